"""NNC's Parameter layer: a learnable tensor of its own, given to another layer's parameter
connector (`Affine(10, b=p)`).

What NNC and nnabla 1.39 do (tools/nnc_extra_layers_fixtures.py): a Parameter linked into an
Affine's or Convolution's W or b connector takes that parameter's shape (NNC's `*GraphOutput`),
and `create_prototxt` makes it a variable of type Parameter named after the layer itself (no
`/W`), without a batch axis, initialized by the layer's initializer; the consuming layer then has
no parameter of that name of its own. Linked as data (into Add2, say) NNC gives it no shape and
`error_check` reports it; nndsl refuses that use too (E0405).
"""

from __future__ import annotations

from .base import (
    CHOICE,
    FLOAT,
    SHAPE,
    LayerSpec,
    nnc_category,
    nnc_params,
    register,
    sized_tensor,
)

# The layers that take a Parameter's value, and the connectors they take it in (NNC's pin names,
# lower case in the language).
CONNECTORS: dict[str, tuple[str, ...]] = {"Affine": ("W", "b"), "Convolution": ("W", "b")}

# The parameter is the layer itself: its name is the layer's (ParamShape name "").
parameter_shape, parameter_parameters = sized_tensor("Parameter", "10 or 1x3x3", "parameter", "", trainable=True)


register(
    LayerSpec(
        type="Parameter",
        category=nnc_category("Parameter"),
        kind="parameter",
        inputs=(),
        params=nnc_params(
            "Parameter",
            {"Size": SHAPE, "Initializer": CHOICE, "InitializerMultiplier": FLOAT, "LRateMultiplier": FLOAT},
            Size=None,
        ),
        positional=("size",),
        shape=parameter_shape,
        parameters=parameter_parameters,
        macs=lambda ins, p, out, ps: 0,
        doc="A learnable tensor of shape `size` (no batch axis) for another layer's parameter connector: "
        "`p = Parameter(10)` then `Affine(10, b=p)` (Affine and Convolution take `w=` and `b=`). Its name "
        "is the parameter's name (`p`, not `p/W`); the layer it feeds then has no parameter of that name. "
        "`init` (NNC's initializers) times `init_multiplier` gives its initial value; "
        "`lrate_multiplier` 0 freezes it. Its value cannot be used as data (NNC refuses that too).",
    )
)
