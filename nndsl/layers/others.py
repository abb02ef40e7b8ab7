"""NNC's "Others" that keep the input's shape or select from it: Dropout, Sort, TopKData,
TopKGrad, Prune, ClipGradByNorm, ResetNaN, ResetInf.
"""

from __future__ import annotations

import math

from .base import (
    BOOL,
    FLOAT,
    INT,
    INTS,
    LayerSpec,
    Params,
    Shape,
    ShapeError,
    axes_index,
    axis_index,
    nnc_category,
    nnc_params,
    register,
    same_shape,
)


def dropout_shape(ins: tuple[Shape, ...], p: Params) -> Shape:
    if not 0.0 <= p["p"] < 1.0:
        raise ShapeError(f"p is the probability of dropping an element and must be in [0, 1), got {p['p']}", param="p")
    return ins[0]


register(
    LayerSpec(
        type="Dropout",
        category=nnc_category("Dropout"),
        inputs=("x",),
        params=nnc_params("Dropout", {"P": FLOAT, "Seed": INT, "SkipAtTest": BOOL}),
        positional=("p",),
        shape=dropout_shape,
        random=True,
        doc="Sets each element to 0 with probability p and scales the others by 1/(1-p) during training; "
        "skipped at test time when skip_at_test (default). Random. Output shape = input shape.",
    )
)


def sort_shape(ins: tuple[Shape, ...], p: Params) -> Shape:
    axis_index(p["axis"], len(ins[0]), "axis")
    return ins[0]


register(
    LayerSpec(
        type="Sort",
        category=nnc_category("Sort"),
        inputs=("x",),
        params=nnc_params("Sort", {"Axis": INT, "Reverse": BOOL, "OnlyIndex": BOOL}),
        shape=sort_shape,
        doc="Sorts along `axis` (descending when reverse); only_index outputs the indices instead. "
        "Output shape = input shape.",
    )
)


def _base_axis(ins: tuple[Shape, ...], p: Params) -> int:
    return axis_index(p["base_axis"], len(ins[0]), "base_axis")


def _check_k(ins: tuple[Shape, ...], p: Params) -> int:
    b = _base_axis(ins, p)
    n = math.prod(ins[0][b:])
    if not 1 <= p["k"] <= n:
        raise ShapeError(f"k={p['k']} must be between 1 and the {n} elements after base_axis {b}", param="k")
    return b


def top_k_data_shape(ins: tuple[Shape, ...], p: Params) -> Shape:
    b = _check_k(ins, p)
    return (*ins[0][:b], p["k"]) if p["reduce"] else ins[0]


register(
    LayerSpec(
        type="TopKData",
        category=nnc_category("TopKData"),
        inputs=("x",),
        params=nnc_params("TopKData", {"K": INT, "Abs": BOOL, "Reduce": BOOL, "BaseAxis": INT}),
        shape=top_k_data_shape,
        doc="Keeps k values (by magnitude when abs) of the elements from base_axis on: the k smallest, "
        "smallest first, as nnabla 1.39 runs NNC's files (they carry no `largest`, which nnabla reads as false; "
        "NNC's manual says the largest). With reduce (default) only those k values are output: 4x5x6 with k=3, "
        "base_axis=1 gives 4x3; otherwise the others are set to 0 and the shape is kept.",
    )
)


def top_k_grad_shape(ins: tuple[Shape, ...], p: Params) -> Shape:
    _check_k(ins, p)
    return ins[0]


register(
    LayerSpec(
        type="TopKGrad",
        category=nnc_category("TopKGrad"),
        inputs=("x",),
        params=nnc_params("TopKGrad", {"K": INT, "Abs": BOOL, "BaseAxis": INT}),
        shape=top_k_grad_shape,
        doc="Identity forward; backward keeps only the k largest gradients from base_axis on.",
    )
)


def prune_shape(ins: tuple[Shape, ...], p: Params) -> Shape:
    if not 0.0 <= p["rate"] <= 1.0:
        raise ShapeError(f"rate must be between 0 and 1, got {p['rate']}", param="rate")
    return ins[0]


register(
    LayerSpec(
        type="Prune",
        category=nnc_category("Prune"),
        inputs=("x",),
        params=nnc_params("Prune", {"Rate": FLOAT}),
        positional=("rate",),
        shape=prune_shape,
        doc="Sets the fraction `rate` of the elements with the smallest magnitude to 0. Output shape = input shape.",
    )
)


def clip_grad_by_norm_shape(ins: tuple[Shape, ...], p: Params) -> Shape:
    axes_index(p["axes"], len(ins[0]), "axes")
    return ins[0]


register(
    LayerSpec(
        type="ClipGradByNorm",
        category=nnc_category("ClipGradByNorm"),
        inputs=("x",),
        params=nnc_params("ClipGradByNorm", {"ClipNorm": FLOAT, "Axes": INTS}),
        shape=clip_grad_by_norm_shape,
        doc="Identity forward; backward rescales the gradient so its norm over `axes` is clip_norm.",
    )
)

for _type, _doc in (("ResetNaN", "Replaces NaN by 0."), ("ResetInf", "Replaces infinities by 0.")):
    register(
        LayerSpec(
            type=_type,
            category=nnc_category(_type),
            inputs=("x",),
            params=nnc_params(_type, {}),
            shape=same_shape,
            doc=f"{_doc} Output shape = input shape.",
        )
    )
