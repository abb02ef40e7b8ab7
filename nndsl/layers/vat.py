"""NNC's layers for virtual adversarial training: WorkingMemory and VATNoise.

What NNC and nnabla 1.39 do (checked with NNC's own tool and nnabla,
tools/nnc_extra_layers_fixtures.py):

- A `WorkingMemory` layer is a buffer of the network's batch: `create_prototxt` makes it a
  variable of type Buffer named after the layer, shape (batch, *Size), filled once by the
  layer's initializer; NNC's `complete` counts Size's elements as its CostParameter.
  Networks that hold a WorkingMemory of the same name share the buffer (nnabla gives them
  one variable). nnabla's parameter files do not hold it (it is no parameter).
- `VATNoise(x, buf)` outputs eps * x / sqrt(sum x^2 + 1e-8), the sum over each sample's
  axes from base_axis on; its backward gives x no gradient and writes eps * dy into `buf`'s
  data. nnabla runs that backward only where an input needs a gradient: the WorkingMemory's
  LRateMultiplier above 0 (NNC's default, 0, leaves the buffer as initialized).
"""

from __future__ import annotations

import math

from .base import (
    CHOICE,
    FLOAT,
    INT,
    SHAPE,
    LayerSpec,
    Params,
    Shape,
    ShapeError,
    axis_index,
    fmt_shape,
    nnc_category,
    nnc_params,
    register,
    sized_tensor,
)

# State, not trained (no optimizer updates it; VATNoise's backward writes it).
working_memory_shape, working_memory_parameters = sized_tensor(
    "WorkingMemory", "1x28x28", "buffer", "buf", trainable=False
)


register(
    LayerSpec(
        type="WorkingMemory",
        category=nnc_category("WorkingMemory"),
        shared_settings=("init", "init_multiplier", "lrate_multiplier"),
        inputs=(),
        params=nnc_params(
            "WorkingMemory",
            {"Size": SHAPE, "Initializer": CHOICE, "InitializerMultiplier": FLOAT, "LRateMultiplier": FLOAT},
        ),
        positional=("size",),
        shape=working_memory_shape,
        parameters=working_memory_parameters,
        macs=lambda ins, p, out, ps: 0,
        # Its output is its initializer's draw until a VATNoise writes it (Constant: the same every run).
        random=lambda p, ins: p["init"] != "Constant",
        doc="A buffer of one value per sample of shape `size`, kept between steps and shared by name between "
        "networks (NNC's WorkingMemory: initialized once by `init` times `init_multiplier`). A VATNoise that "
        "reads it as its `buf` writes the gradient into it; it does so only when `lrate_multiplier` is above 0, "
        "as in nnabla (NNC's default 0 keeps it as initialized). Not in NNC's parameter files.",
    )
)


def vat_noise_shape(ins: tuple[Shape, ...], p: Params) -> Shape:
    x, buf = ins
    axis_index(p["base_axis"], len(x), "base_axis")
    if x != buf:
        raise ShapeError(
            f"VATNoise writes the gradient of its output into buf, so buf must have the input's shape "
            f"{fmt_shape(x)}, got {fmt_shape(buf)}",
            input=1,
        )
    if p["epsilon"] <= 0 or not math.isfinite(p["epsilon"]):
        raise ShapeError(f"epsilon must be a positive number, got {p['epsilon']}", param="epsilon")
    return x


register(
    LayerSpec(
        type="VATNoise",
        category=nnc_category("VATNoise"),
        inputs=("x", "buf"),
        params=nnc_params("VATNoise", {"BaseAxis": INT, "Epsilon": FLOAT}),
        shape=vat_noise_shape,
        doc="Virtual adversarial noise: outputs epsilon * x / sqrt(sum x^2 + 1e-8) per sample (the sum over the "
        "axes from base_axis on); its backward gives x no gradient and writes epsilon times the output's "
        "gradient into `buf`, a WorkingMemory (nnabla's vat_noise). Output shape = input shape.",
    )
)
