"""Pre-processing layers: ImageAugmentation, RandomCrop, RandomFlip, RandomShift, MeanSubtraction.

Per-axis lists shorter than the input's rank apply to its last axes, as nnabla.
"""

from __future__ import annotations

import math
from typing import Any

from .base import (
    BOOL,
    CHOICE,
    DERIVED,
    FLOAT,
    INT,
    INTS,
    SHAPE,
    LayerSpec,
    Params,
    ParamShape,
    Shape,
    ShapeError,
    as_tuple,
    axes_index,
    axis_index,
    check_at_least,
    fmt_shape,
    need_rank,
    nnc_category,
    nnc_params,
    register,
    spatial_param,
)


def trailing_shape(x: Shape, shape: Any, name: str) -> Shape:
    """`x` with its last len(shape) sizes replaced by `shape` (nnabla's rule for crops)."""
    shape = as_tuple(shape)
    if not shape:
        raise ShapeError(f"{name} is empty", param=name)
    if len(shape) > len(x):
        raise ShapeError(f"{name} {fmt_shape(shape)} has more axes than the input {fmt_shape(x)}", param=name)
    check_at_least(shape, 1, name, f"every size of {name}")
    return (*x[: len(x) - len(shape)], *shape)


# --- ImageAugmentation ---------------------------------------------------------------------


def resolve_augmentation(ins: tuple[Shape, ...], p: dict[str, Any], training: bool) -> None:
    x = ins[0]
    need_rank(x, (2, 4))
    shape = x if p["shape"] is DERIVED else as_tuple(p["shape"])
    if len(shape) < 2:
        raise ShapeError(f"shape {fmt_shape(shape)} needs at least a height and a width", param="shape")
    out = trailing_shape(x, shape, "shape")
    if out[:-2] != x[:-2]:
        raise ShapeError(
            f"ImageAugmentation keeps the channels: shape {fmt_shape(shape)} has "
            f"{fmt_shape(out[:-2])} before height and width but the input {fmt_shape(x)} has {fmt_shape(x[:-2])}",
            param="shape",
        )
    p["shape"] = out
    p["pad"] = spatial_param(p["pad"], 2, "pad")
    check_at_least(p["pad"], 0, "pad")
    for name in ("min_scale", "max_scale", "aspect_ratio", "contrast"):
        if p[name] <= 0:
            raise ShapeError(f"{name} must be positive, got {p[name]}", param=name)


def augmentation_is_random(p: Params, ins: tuple[Shape, ...]) -> bool:
    """Whether ImageAugmentation with these (resolved) parameters changes from image to image.

    Random: min_scale != max_scale, aspect_ratio != 1, angle != 0, flip_lr, flip_ud,
    distortion != 0, brightness != 0, contrast != 1, noise > 0. With everything else fixed
    the scaled, padded image is cropped to `shape` at an offset drawn uniformly from
    [0, scaled size - shape]: a deterministic resize-and-crop exactly when that range is 0
    (NNC's validation networks: 280 scaled by 0.8 to 224).
    """
    if (
        p["min_scale"] != p["max_scale"]
        or p["aspect_ratio"] != 1.0
        or p["angle"] != 0.0
        or p["flip_lr"]
        or p["flip_ud"]
        or p["distortion"] != 0.0
        or p["brightness"] != 0.0
        or p["contrast"] != 1.0
        or p["noise"] > 0.0
    ):
        return True
    x, out, pad, scale = ins[0], p["shape"], p["pad"], p["min_scale"]
    h, w = x[-2] + 2 * pad[0], x[-1] + 2 * pad[1]
    return not (math.isclose(h * scale, out[-2], abs_tol=1e-4) and math.isclose(w * scale, out[-1], abs_tol=1e-4))


register(
    LayerSpec(
        type="ImageAugmentation",
        category=nnc_category("ImageAugmentation"),
        preprocessing="keeps",
        inputs=("x",),
        params=nnc_params(
            "ImageAugmentation",
            {
                "Shape": SHAPE,
                "Pad": INTS,
                "MinScale": FLOAT,
                "MaxScale": FLOAT,
                "Angle": FLOAT,
                "AspectRatio": FLOAT,
                "Distortion": FLOAT,
                "FlipLR": BOOL,
                "FlipUD": BOOL,
                "Brightness": FLOAT,
                "BrightnessEach": BOOL,
                "Contrast": FLOAT,
                "ContrastCenter": FLOAT,
                "ContrastEach": BOOL,
                "Noise": FLOAT,
                "Seed": INT,
                "SkipAtTest": BOOL,
            },
        ),
        positional=("shape",),
        resolve=resolve_augmentation,
        shape=lambda ins, p: tuple(p["shape"]),
        random=augmentation_is_random,
        doc="nnabla's image augmentation of (C,H,W) images: pad, scale (log-uniform in "
        "[min_scale, max_scale]), aspect ratio, rotation, flips, distortion, then a crop to `shape` at a "
        "random offset, brightness, contrast and noise. The output is `shape` (default the input's shape; "
        "H,W or C,H,W) and keeps the input's channels. Random unless every random part is off and the "
        "scaled input exactly fits `shape` (a deterministic resize, like 280 scaled by 0.8 to 224).",
    )
)

# --- RandomCrop, RandomFlip, RandomShift ---------------------------------------------------------


def resolve_random_crop(ins: tuple[Shape, ...], p: dict[str, Any], training: bool) -> None:
    x = ins[0]
    out = x if p["shape"] is DERIVED else trailing_shape(x, p["shape"], "shape")
    for axis, (n, m) in enumerate(zip(x, out, strict=True)):
        if m > n:
            raise ShapeError(
                f"cannot crop {fmt_shape(out)} from {fmt_shape(x)}: {m} is larger than {n} on axis {axis}",
                param="shape",
            )
    p["shape"] = out


register(
    LayerSpec(
        type="RandomCrop",
        category=nnc_category("RandomCrop"),
        preprocessing="keeps",
        inputs=("x",),
        params=nnc_params("RandomCrop", {"Shape": SHAPE, "Seed": INT}),
        positional=("shape",),
        resolve=resolve_random_crop,
        shape=lambda ins, p: tuple(p["shape"]),
        random=True,
        doc="Crops `shape` (its sizes replace the input's last axes, as nnabla) at a random position. "
        "Each size must be at most the input's. Random.",
    )
)


def random_flip_shape(ins: tuple[Shape, ...], p: Params) -> Shape:
    axes_index(p["axes"], len(ins[0]), "axes")
    return ins[0]


register(
    LayerSpec(
        type="RandomFlip",
        category=nnc_category("RandomFlip"),
        preprocessing="keeps",
        inputs=("x",),
        params=nnc_params("RandomFlip", {"Axes": INTS, "Seed": INT, "SkipAtTest": BOOL}),
        positional=("axes",),
        shape=random_flip_shape,
        random=True,
        doc="Reverses each of `axes` with probability 1/2 (2 flips a (C,H,W) image horizontally); skipped "
        "at test time when skip_at_test (default). Random. Output shape = input shape.",
    )
)


def random_shift_shape(ins: tuple[Shape, ...], p: Params) -> Shape:
    x, shift = ins[0], as_tuple(p["shift"])
    if len(shift) > len(x):
        raise ShapeError(f"shift has {len(shift)} values but the input {fmt_shape(x)} has {len(x)} axes", param="shift")
    check_at_least(shift, 0, "shift", "every maximum shift")
    return x


register(
    LayerSpec(
        type="RandomShift",
        category=nnc_category("RandomShift"),
        preprocessing="keeps",
        inputs=("x",),
        params=nnc_params("RandomShift", {"Shift": INTS, "BorderMode": CHOICE, "Seed": INT, "SkipAtTest": BOOL}),
        positional=("shift",),
        shape=random_shift_shape,
        random=lambda p, ins: any(as_tuple(p["shift"])),
        doc="Shifts the last len(shift) axes by random amounts in [-shift, shift] (4,4 moves an image up "
        "to 4 pixels each way), filling by `border_mode`; skipped at test time when skip_at_test. Random "
        "unless every shift is 0. Output shape = input shape.",
    )
)

# --- MeanSubtraction -----------------------------------------------------------------------------


def _mean_sub_shape(ins: tuple[Shape, ...], p: Params) -> Shape:
    axis_index(p["base_axis"], len(ins[0]), "base_axis")
    return ins[0]


def _mean_sub_parameters(ins: tuple[Shape, ...], p: Params, out: Shape) -> tuple[ParamShape, ...]:
    b = axis_index(p["base_axis"], len(ins[0]), "base_axis")
    return (
        ParamShape("mean", ins[0][b:], trainable=False, init=p["mean_init"], init_multiplier=p["mean_init_multiplier"]),
        ParamShape("t", (1,), trainable=False, init=p["t_init"], init_multiplier=p["t_init_multiplier"]),
    )


register(
    LayerSpec(
        type="MeanSubtraction",
        category=nnc_category("MeanSubtraction"),
        inputs=("x",),
        params=nnc_params(
            "MeanSubtraction",
            {
                "BaseAxis": INT,
                "UpdateRunningMean": BOOL,
                "mean.Initializer": CHOICE,
                "mean.InitializerMultiplier": FLOAT,
                "t.Initializer": CHOICE,
                "t.InitializerMultiplier": FLOAT,
            },
        ),
        shape=_mean_sub_shape,
        parameters=_mean_sub_parameters,
        doc="Subtracts a running mean of the inputs (state `mean`, the shape from base_axis on, and the "
        "count `t`). Output shape = input shape.",
    )
)
