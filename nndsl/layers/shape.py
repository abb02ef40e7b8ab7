"""Layers that move, select or copy elements: Slice, Pad, Reshape, Transpose, Flip, Broadcast,
Concatenate, Stack, Tile, Shift, OneHot, MatrixDiag, Identity...

Axes are per sample (0 is C); negative axes count from the end. Per-axis lists shorter
than the input's rank apply to its last axes, as nnabla's Slice, Pad, Shift and Tile do.
"""

from __future__ import annotations

import math
from typing import Any

from .base import (
    CHOICE,
    DERIVED,
    FLOAT,
    INT,
    INTS,
    SHAPE,
    LayerSpec,
    MergeError,
    Params,
    Shape,
    ShapeError,
    as_tuple,
    axes_index,
    axis_index,
    check_at_least,
    fmt_axes,
    fmt_shape,
    need_rank,
    nnc_category,
    nnc_params,
    register,
    same_shape,
    same_shapes,
)

# --- Slice -----------------------------------------------------------------------------------


def resolve_slice(ins: tuple[Shape, ...], p: dict[str, Any], training: bool) -> None:
    """Aligns start/stop/step to the input's axes (full rank, negatives made positive)."""
    x = ins[0]
    rank = len(x)
    start = as_tuple(p["start"])
    # NNC's defaults 0,0,0 and 1,1,1 are written for (C,H,W); untouched, they fit any rank.
    if start == (0, 0, 0) and rank != 3:
        start = (0,) * rank
    n = len(start)
    if not 1 <= n <= rank:
        raise ShapeError(f"start has {n} values but the input {fmt_shape(x)} has {rank} axes", param="start")
    stop = x[rank - n :] if p["stop"] is DERIVED else as_tuple(p["stop"])
    step = as_tuple(p["step"])
    if step == (1, 1, 1) and n != 3:
        step = (1,) * n
    for name, values in (("stop", stop), ("step", step)):
        if len(values) != n:
            raise ShapeError(f"{name} has {len(values)} values but start has {n}", param=name)
    lead = rank - n
    start, stop, step = (0,) * lead + start, tuple(x[:lead]) + tuple(stop), (1,) * lead + step
    starts, stops = [], []
    for axis, (size, a, b, s) in enumerate(zip(x, start, stop, step, strict=True)):
        if s == 0:
            raise ShapeError(f"step is 0 on axis {axis}", param="step")
        a0, b0 = a, b
        a = a + size if a < 0 else a
        b = b + size if b < 0 else b
        if not 0 <= a < size:
            raise ShapeError(f"start {a0} is outside axis {axis} of size {size}", param="start")
        if s > 0:
            b = min(b, size)
        if (s > 0 and b <= a) or (s < 0 and b >= a):
            raise ShapeError(f"slice {a0}:{b0}:{s} of axis {axis} (size {size}) selects nothing", param="stop")
        starts.append(a)
        stops.append(b)
    p["start"], p["stop"], p["step"] = tuple(starts), tuple(stops), step


def slice_shape(ins: tuple[Shape, ...], p: Params) -> Shape:
    out = []
    for a, b, s in zip(p["start"], p["stop"], p["step"], strict=True):
        out.append((b - 1 - a) // s + 1 if s > 0 else (a - 1 - b) // -s + 1)
    return tuple(out)


SUBSCRIPT = "Slice"  # the layer a subscript of a tensor lowers to: x[:, 1:3] is Slice(start=..., stop=...)

register(
    LayerSpec(
        type=SUBSCRIPT,
        category=nnc_category("Slice"),
        preprocessing="keeps",
        inputs=("x",),
        params=nnc_params("Slice", {"Start": INTS, "Stop": INTS, "Step": INTS}),
        resolve=resolve_slice,
        shape=slice_shape,
        doc="Python-style slicing start:stop:step per axis, as nnabla: lists shorter than the rank apply "
        "to the last axes, negative start/stop count from the end, stop beyond the axis is clipped, and "
        "`stop` defaults to the input's size. A start outside the axis or an empty result is an error. "
        "After resolution start/stop/step have one value per axis (stop -1 with a negative step "
        "means through index 0).",
    )
)

# --- Pad ---------------------------------------------------------------------------------------


def pad_shape(ins: tuple[Shape, ...], p: Params) -> Shape:
    x = ins[0]
    widths = as_tuple(p["pad_width"])
    if len(widths) % 2:
        raise ShapeError(f"pad_width needs pairs (before, after), got {len(widths)} values", param="pad_width")
    if len(widths) > 2 * len(x):
        raise ShapeError(
            f"pad_width has {len(widths) // 2} pairs but the input {fmt_shape(x)} has {len(x)} axes",
            param="pad_width",
        )
    check_at_least(widths, 0, "pad_width", "every pad width")
    pairs = [(0, 0)] * (len(x) - len(widths) // 2) + [(widths[i], widths[i + 1]) for i in range(0, len(widths), 2)]
    return tuple(n + a + b for n, (a, b) in zip(x, pairs, strict=True))


register(
    LayerSpec(
        type="Pad",
        category=nnc_category("Pad"),
        preprocessing="keeps",
        inputs=("x",),
        params=nnc_params("Pad", {"PadWidth": INTS, "Mode": CHOICE, "ConstantValue": FLOAT}),
        positional=("pad_width",),
        shape=pad_shape,
        doc="Pads the last len(pad_width)/2 axes: pad_width is (before, after) pairs, the last pair for "
        "the last axis. Mode constant (constant_value), reflect or repeat (edge), as nnabla.",
    )
)

# --- Reshape, Transpose, Flip, Broadcast --------------------------------------------------------


def reshape_shape(ins: tuple[Shape, ...], p: Params) -> Shape:
    x = ins[0]
    want = as_tuple(p["out_shape"])
    total = math.prod(x)
    if not want:
        raise ShapeError("out_shape is empty", param="out_shape")
    if want.count(-1) > 1:
        raise ShapeError(f"out_shape {fmt_shape(want)} has more than one -1", param="out_shape")
    for v in want:
        if v == 0 or v < -1:
            raise ShapeError(f"out_shape {fmt_shape(want)} has a size {v}", param="out_shape")
    if -1 in want:
        known = math.prod(v for v in want if v != -1)
        if total % known:
            raise ShapeError(
                f"cannot reshape {fmt_shape(x)} ({total} elements) to {fmt_shape(want)}: "
                f"{total} is not a multiple of {known}",
                param="out_shape",
            )
        want = tuple(total // known if v == -1 else v for v in want)
    if math.prod(want) != total:
        raise ShapeError(
            f"cannot reshape {fmt_shape(x)} ({total} elements) to {fmt_shape(want)} ({math.prod(want)} elements)",
            param="out_shape",
        )
    return want


register(
    LayerSpec(
        type="Reshape",
        category=nnc_category("Reshape"),
        inputs=("x",),
        params=nnc_params("Reshape", {"OutShape": INTS}),
        positional=("out_shape",),
        shape=reshape_shape,
        doc="Gives the elements (C,H,W order) a new per-sample shape with the same number of elements; "
        "one size may be -1 (inferred).",
    )
)


def transpose_shape(ins: tuple[Shape, ...], p: Params) -> Shape:
    x = ins[0]
    r = len(x)
    axes = as_tuple(p["axes"])
    if not (len(axes) == r and all(-r <= a < r for a in axes) and sorted(a % r for a in axes) == list(range(r))):
        raise ShapeError(
            f"axes {fmt_axes(axes)} is not a permutation of the {r} axes ({fmt_axes(tuple(range(r)))}) "
            f"of the input {fmt_shape(x)}",
            param="axes",
        )
    return tuple(x[a] for a in axes)


register(
    LayerSpec(
        type="Transpose",
        category=nnc_category("Transpose"),
        inputs=("x",),
        params=nnc_params("Transpose", {"Axes": INTS}),
        positional=("axes",),
        shape=transpose_shape,
        doc="Permutes the axes: output axis i is input axis axes[i] (3x20x10 with axes 0,2,1 gives 3x10x20).",
    )
)


def flip_shape(ins: tuple[Shape, ...], p: Params) -> Shape:
    axes_index(p["axes"], len(ins[0]), "axes")
    return ins[0]


register(
    LayerSpec(
        type="Flip",
        category=nnc_category("Flip"),
        preprocessing="keeps",
        inputs=("x",),
        params=nnc_params("Flip", {"Axes": INTS}),
        positional=("axes",),
        shape=flip_shape,
        doc="Reverses the order of the elements along each of `axes` (1,2 flips an image vertically and "
        "horizontally). Output shape = input shape.",
    )
)


def resolve_broadcast(ins: tuple[Shape, ...], p: dict[str, Any], training: bool) -> None:
    if p["out_shape"] is DERIVED:
        p["out_shape"] = ins[0]


def broadcast_to_shape(ins: tuple[Shape, ...], p: Params) -> Shape:
    x, want = ins[0], as_tuple(p["out_shape"])
    if len(want) != len(x):
        raise ShapeError(
            f"out_shape {fmt_shape(want)} has {len(want)} axes but the input {fmt_shape(x)} has {len(x)}",
            param="out_shape",
        )
    for axis, (n, m) in enumerate(zip(x, want, strict=True)):
        if n != m and n != 1:
            raise ShapeError(
                f"cannot broadcast size {n} to {m} on axis {axis}: only axes of size 1 are copied",
                param="out_shape",
            )
    return want


register(
    LayerSpec(
        type="Broadcast",
        category=nnc_category("Broadcast"),
        inputs=("x",),
        params=nnc_params("Broadcast", {"OutShape": SHAPE}),
        positional=("out_shape",),
        resolve=resolve_broadcast,
        shape=broadcast_to_shape,
        doc="Copies axes of size 1 to the sizes of out_shape (3x1x2 to 3x10x2); `out_shape` has the "
        "input's rank and defaults to the input's shape.",
    )
)

# --- joining -----------------------------------------------------------------------------------


def concat_shape(ins: tuple[Shape, ...], p: Params) -> Shape:
    first = ins[0]
    axis = axis_index(p["axis"], len(first), "axis")
    total = first[axis]
    for j in range(1, len(ins)):
        x = ins[j]
        if len(x) != len(first):
            raise MergeError(f"ranks differ ({len(first)} and {len(x)} axes)", 0, j)
        for a, (m, n) in enumerate(zip(first, x, strict=True)):
            if a != axis and m != n:
                raise MergeError(
                    f"sizes differ on axis {a} ({m} and {n}); only the concatenation axis {axis} may differ", 0, j
                )
        total += x[axis]
    return (*first[:axis], total, *first[axis + 1 :])


register(
    LayerSpec(
        type="Concatenate",
        category=nnc_category("Concatenate"),
        inputs=("x0", "x1"),
        params=nnc_params("Concatenate", {"Axis": INT}),
        shape=concat_shape,
        variadic=True,
        doc="Joins two or more inputs along `axis` (default 0, the channels): 3x28x28 and 5x28x28 give "
        "8x28x28. The other axes must be equal.",
    )
)


def stack_shape(ins: tuple[Shape, ...], p: Params) -> Shape:
    x = same_shapes(ins, "Stack")
    axis = axis_index(p["axis"], len(x) + 1, "axis")
    return (*x[:axis], len(ins), *x[axis:])


register(
    LayerSpec(
        type="Stack",
        category=nnc_category("Stack"),
        inputs=("x0", "x1"),
        params=nnc_params("Stack", {"Axis": INT}),
        shape=stack_shape,
        variadic=True,
        doc="Joins two or more inputs of the same shape along a new axis `axis` (four 3x28x28 on axis 1 "
        "give 3x4x28x28).",
    )
)


def tile_shape(ins: tuple[Shape, ...], p: Params) -> Shape:
    x, reps = ins[0], as_tuple(p["reps"])
    check_at_least(reps, 1, "reps", "every repetition count")
    if len(reps) > len(x):
        raise ShapeError(f"reps has {len(reps)} values but the input {fmt_shape(x)} has {len(x)} axes", param="reps")
    reps = (1,) * (len(x) - len(reps)) + reps
    return tuple(n * r for n, r in zip(x, reps, strict=True))


register(
    LayerSpec(
        type="Tile",
        category=nnc_category("Tile"),
        inputs=("x",),
        params=nnc_params("Tile", {"Reps": SHAPE}),
        positional=("reps",),
        shape=tile_shape,
        doc="Repeats the whole input reps times along the last len(reps) axes (numpy.tile).",
    )
)

# --- others ------------------------------------------------------------------------------------


def shift_shape(ins: tuple[Shape, ...], p: Params) -> Shape:
    x, shifts = ins[0], as_tuple(p["shift"])
    if len(shifts) > len(x):
        raise ShapeError(
            f"shift has {len(shifts)} values but the input {fmt_shape(x)} has {len(x)} axes", param="shift"
        )
    return x


register(
    LayerSpec(
        type="Shift",
        category=nnc_category("Shift"),
        inputs=("x",),
        params=nnc_params("Shift", {"Shift": INTS, "BorderMode": CHOICE}),
        positional=("shift",),
        shape=shift_shape,
        doc="Shifts the elements of the last len(shift) axes by the given amounts, filling the border by "
        "`border_mode` (nearest or reflect). Output shape = input shape.",
    )
)

for _type, _doc, _preprocessing in (
    ("Identity", "Outputs its input unchanged (useful to name a point of the network).", "keeps"),
    ("Unlink", "Outputs its input unchanged but stops the gradient.", ""),
):
    register(
        LayerSpec(
            type=_type,
            category=nnc_category(_type),
            inputs=("x",),
            params=nnc_params(_type, {}),
            shape=same_shape,
            preprocessing=_preprocessing,
            doc=_doc,
        )
    )


def one_hot_shape(ins: tuple[Shape, ...], p: Params) -> Shape:
    x, shape = ins[0], as_tuple(p["shape"])
    need_rank(x, (1, 8))
    check_at_least(shape, 1, "shape", "every size of shape")
    if x[-1] != len(shape):
        raise ShapeError(
            f"shape {fmt_shape(shape)} has {len(shape)} axes, so the input's last axis must hold {len(shape)} "
            f"indices; it holds {x[-1]} (input {fmt_shape(x)})",
            input=0,
        )
    return (*x[:-1], *shape)


register(
    LayerSpec(
        type="OneHot",
        category=nnc_category("OneHot"),
        inputs=("x",),
        params=nnc_params("OneHot", {"Shape": SHAPE}),
        positional=("shape",),
        shape=one_hot_shape,
        doc="One-hot arrays of `shape` from integer indices: the input's last axis holds one index per axis "
        "of `shape` and is replaced by `shape` (labels 1 with shape 10 give 10).",
    )
)


def matrix_diag_shape(ins: tuple[Shape, ...], p: Params) -> Shape:
    need_rank(ins[0], (1, 8))
    return (*ins[0], ins[0][-1])


def matrix_diag_part_shape(ins: tuple[Shape, ...], p: Params) -> Shape:
    x = ins[0]
    need_rank(x, (2, 8))
    if x[-1] != x[-2]:
        raise ShapeError(f"the last two axes must be square matrices, got {fmt_shape(x)}", input=0)
    return x[:-1]


register(
    LayerSpec(
        type="MatrixDiag",
        category=nnc_category("MatrixDiag"),
        inputs=("x",),
        params=nnc_params("MatrixDiag", {}),
        shape=matrix_diag_shape,
        doc="Turns the last axis (size M) into diagonal MxM matrices.",
    )
)

register(
    LayerSpec(
        type="MatrixDiagPart",
        category=nnc_category("MatrixDiagPart"),
        inputs=("x",),
        params=nnc_params("MatrixDiagPart", {}),
        shape=matrix_diag_part_shape,
        doc="The diagonals of the MxM matrices in the last two axes (the last axis goes).",
    )
)
