"""Pooling layers: MaxPooling, AveragePooling, SumPooling, GlobalAveragePooling, Unpooling.

Sizes follow nnabla (src/nbla/function/utils/base_pooling.cpp; the rule is
`nndsl.runtime.nnc_shapes.pooled_size`, which the generated projects use too). The pooled axes are the
last len(kernel) axes; axes before them are kept. Along a pooled axis of size n with
kernel k, stride s and padding p (added on both sides):

* ignore_border=True (floor):  (n + 2p - k) // s + 1; the kernel must fit the padded input.
* ignore_border=False:         (n + p - 1) // s + 1, that is one window for every stride
  position that starts inside the input (left padding included); windows running over
  the right border are clipped. This is *not* PyTorch's ceil_mode rule, which depends on
  the kernel: for n=5, k=3, s=1 nnabla gives 5 windows, ceil_mode gives 3.

A padding as large as the kernel would make windows that see only padding; that is
rejected. `stride` defaults to the kernel (NNC's ``*KernelShape``).

`ceil_mode=true` (MaxPooling, AveragePooling; nndsl's own option, NNC has none) is the frameworks'
rule (PyTorch's `ceil_mode`, `framework_pooled_size`): ceil((n + 2p - k) / s) + 1 windows, less one
when the last would start beyond the input and its left padding; windows running over the right
padding are clipped, and an average divides by the window's part inside the padded input
(PyTorch's `count_include_pad`, NNC's `including_pad`) or inside the input. It needs
ignore_border (the default) and a pad of at most half the kernel, as PyTorch.

AdaptiveAveragePooling and AdaptiveMaxPooling (nndsl's own layers, NNC has none) pool every axis
after the first to a fixed `size`: output i of an axis of n covers [floor(i n / o), ceil((i + 1) n / o)),
PyTorch's `adaptive_avg_pool2d` windows.
"""

from __future__ import annotations

from typing import Any

from ..runtime.nnc_shapes import pooled_size  # the one copy of nnabla's rule, shared with the runtime
from .base import (
    BOOL,
    DERIVED,
    INTS,
    SHAPE,
    LayerSpec,
    Param,
    Params,
    Shape,
    ShapeError,
    as_tuple,
    check_at_least,
    fmt_shape,
    need_rank,
    nnc_category,
    nnc_params,
    register,
    spatial,
    spatial_param,
)


def pooled_axes(x: Shape, kernel: Any) -> int:
    """How many trailing axes a kernel pools: its length, or (a single value) every axis after C."""
    k = as_tuple(kernel)
    nd = len(k) if len(k) > 1 else max(len(x) - 1, 1)
    if not 1 <= nd <= 3:
        raise ShapeError(f"pooling works on 1 to 3 axes, the kernel has {nd}", param="kernel")
    if nd > len(x):
        raise ShapeError(
            f"a {nd}-axis kernel needs an input with at least {nd} axes, got {fmt_shape(x)}", param="kernel"
        )
    return nd


def resolve_pooling(ins: tuple[Shape, ...], p: dict[str, Any], training: bool) -> None:
    need_rank(ins[0], (1, 4))
    nd = pooled_axes(ins[0], p["kernel"])
    p["kernel"] = spatial_param(p["kernel"], nd, "kernel")
    check_at_least(p["kernel"], 1, "kernel")
    p["stride"] = p["kernel"] if p["stride"] is DERIVED else spatial_param(p["stride"], nd, "stride", (1, 1))
    check_at_least(p["stride"], 1, "stride")
    p["pad"] = spatial_param(p["pad"], nd, "pad", (0, 0))
    check_at_least(p["pad"], 0, "pad")
    if p.get("ceil_mode"):
        if not p["ignore_border"]:
            raise ShapeError(
                "ceil_mode=true is the frameworks' rule and ignore_border=false nnabla's: choose one",
                param="ceil_mode",
            )
        if nd != len(ins[0]) - 1:
            raise ShapeError(
                f"ceil_mode=true pools every axis after the first ({len(ins[0]) - 1}), the kernel has {nd}",
                param="ceil_mode",
            )


def framework_pooled_size(n: int, kernel: int, stride: int, pad: int) -> int:
    """PyTorch's `ceil_mode` output size along one axis (`pooling_output_shape`): one window
    more than the floor rule where the windows do not tile the padded input exactly, except one
    that would start beyond the input and its left padding."""
    out = -(-(n + 2 * pad - kernel) // stride) + 1
    if (out - 1) * stride >= n + pad:
        out -= 1
    return out


def pooling_shape(ins: tuple[Shape, ...], p: Params) -> Shape:
    x = ins[0]
    nd = len(p["kernel"])
    lead, sizes = x[: len(x) - nd], x[len(x) - nd :]
    out = []
    for axis, (n, k, s, pad) in enumerate(zip(sizes, p["kernel"], p["stride"], p["pad"], strict=True)):
        if pad >= k:
            raise ShapeError(
                f"pad {pad} is not smaller than the kernel {k} on pooled axis {axis}: "
                "some windows would see only padding",
                param="pad",
            )
        if p.get("ceil_mode") and 2 * pad > k:
            raise ShapeError(
                f"pad {pad} is more than half the kernel {k} on pooled axis {axis} (ceil_mode=true, as PyTorch)",
                param="pad",
            )
        if p.get("ceil_mode"):
            size = framework_pooled_size(n, k, s, pad)
            if size < 1:
                raise ShapeError(
                    f"kernel {k} leaves no window on pooled axis {axis} of {n} + 2x{pad} (ceil_mode=true)",
                    param="kernel",
                )
            out.append(size)
            continue
        if p["ignore_border"] and k > n + 2 * pad:
            raise ShapeError(
                f"kernel {k} is larger than the padded input ({n} + 2x{pad}) on pooled axis {axis} "
                "(ignore_border=true drops windows that do not fit)",
                param="kernel",
            )
        out.append(pooled_size(n, k, s, pad, p["ignore_border"]))
    return (*lead, *out)


_POOL_TYPES = {"KernelShape": SHAPE, "Strides": SHAPE, "IgnoreBorder": BOOL, "Padding": INTS}

# nndsl's own option (no NNC property): PyTorch's ceil_mode rule, see the module's docstring.
CEIL_MODE = Param(
    "ceil_mode",
    BOOL,
    False,
    "",
    doc="the frameworks' ceil_mode: ceil((n + 2*pad - kernel) / stride) + 1 windows (PyTorch's rule)",
)

for _type, _types, _doc, _own in (
    ("MaxPooling", _POOL_TYPES, "Maximum over each window (padding never wins).", (CEIL_MODE,)),
    (
        "AveragePooling",
        {**_POOL_TYPES, "IncludingPad": BOOL},
        "Average over each window; with including_pad the padded positions count in the divisor.",
        (CEIL_MODE,),
    ),
    ("SumPooling", _POOL_TYPES, "Sum over each window.", ()),
):
    register(
        LayerSpec(
            type=_type,
            category=nnc_category(_type),
            inputs=("x",),
            params=nnc_params(_type, _types) + _own,
            positional=("kernel",),
            resolve=resolve_pooling,
            shape=pooling_shape,
            doc=f"{_doc} Pools the last len(kernel) axes; `stride` defaults to the kernel. "
            "Output size (n + 2*pad - kernel) // stride + 1 with ignore_border (default), "
            "else (n + pad - 1) // stride + 1 (nnabla's rule)"
            + ("; with ceil_mode PyTorch's ceil((n + 2*pad - kernel) / stride) + 1." if _own else "."),
        )
    )


def resolve_adaptive(ins: tuple[Shape, ...], p: dict[str, Any], training: bool) -> None:
    need_rank(ins[0], (2, 4))
    p["size"] = spatial(p["size"], len(ins[0]) - 1, "size")
    check_at_least(p["size"], 1, "size", "every output size")


def adaptive_shape(ins: tuple[Shape, ...], p: Params) -> Shape:
    return (ins[0][0], *p["size"])


def adaptive_windows(n: int, o: int) -> tuple[tuple[int, int], ...]:
    """The (start, end) of each of the `o` windows over an axis of `n`: PyTorch's adaptive pooling."""
    return tuple((i * n // o, -(-(i + 1) * n // o)) for i in range(o))


for _type, _doc in (
    ("AdaptiveAveragePooling", "Average over each window"),
    ("AdaptiveMaxPooling", "Maximum over each window"),
):
    register(
        LayerSpec(
            type=_type,
            category="Pooling",
            inputs=("x",),
            params=(Param("size", SHAPE, None, "", doc="the output size of every axis after the first"),),
            positional=("size",),
            resolve=resolve_adaptive,
            shape=adaptive_shape,
            nndsl_only=True,
            doc=f"{_doc}, to a fixed output `size` of every axis after the first (C,H,W to C,*size): "
            "output i of an axis of n covers [floor(i*n/o), ceil((i+1)*n/o)), PyTorch's adaptive pooling. "
            "nndsl's own layer, NNC has none: `nndsl export` writes it as NNC's "
            f"{_type.removeprefix('Adaptive')} with kernel = stride = n/o where every n is a multiple of its o, "
            "and refuses it otherwise.",
        )
    )


def gap_shape(ins: tuple[Shape, ...], p: Params) -> Shape:
    need_rank(ins[0], (1, 3))
    return (ins[0][0], 1, 1)


register(
    LayerSpec(
        type="GlobalAveragePooling",
        category=nnc_category("GlobalAveragePooling"),
        inputs=("x",),
        params=nnc_params("GlobalAveragePooling", {}),
        shape=gap_shape,
        doc="Average of each channel over all its positions: (C,H,W), (C,L) or (C,) give (C,1,1), as nnabla.",
    )
)


def resolve_unpooling(ins: tuple[Shape, ...], p: dict[str, Any], training: bool) -> None:
    k = as_tuple(p["kernel"])
    nd = len(k) if len(k) > 1 else max(len(ins[0]) - 1, 1)
    if nd > len(ins[0]):
        raise ShapeError(
            f"a {nd}-axis kernel needs an input with at least {nd} axes, got {fmt_shape(ins[0])}", param="kernel"
        )
    p["kernel"] = spatial_param(p["kernel"], nd, "kernel")
    check_at_least(p["kernel"], 1, "kernel")


def unpooling_shape(ins: tuple[Shape, ...], p: Params) -> Shape:
    x = ins[0]
    k = (1,) * (len(x) - len(p["kernel"])) + tuple(p["kernel"])
    return tuple(n * f for n, f in zip(x, k, strict=True))


register(
    LayerSpec(
        type="Unpooling",
        category=nnc_category("Unpooling"),
        inputs=("x",),
        params=nnc_params("Unpooling", {"KernelShape": SHAPE}),
        positional=("kernel",),
        resolve=resolve_unpooling,
        shape=unpooling_shape,
        doc="Repeats every element kernel times along the last len(kernel) axes, multiplying their sizes "
        "(nearest-neighbour upsampling).",
    )
)
