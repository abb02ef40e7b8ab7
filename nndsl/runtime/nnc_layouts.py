"""NNC's parameter layouts against the frameworks': one type and converter for both backends and the compiler.

A parameter's array in the framework (a torch state_dict tensor, a Keras variable) and its array
in NNC's layout (what parameter files hold, what nnabla's fans read) hold the same numbers in
another order or shape. The relation is a *layout*, named by a string stored per parameter in a
project's `parameters.json` (the serialized form; the emitters choose it). A layout names, for a
framework array of a given shape, a reshape, a permutation of its axes and NNC's shape:

torch (a torch module keeps NNC's channels-first order):
    same            the same elements in another shape: Convolution / Deconvolution W (torch's
                    Conv*d / ConvTranspose*d weight is NNC's), biases, Parameter values
    affine          Affine W (in, *out) = nn.Linear's weight (prod(out), in) transposed
    affine_bias     Affine b (*out) = nn.Linear's bias (prod(out),)
    bn              BatchNormalization beta, gamma, mean, var (1, C, 1, 1) = nn.BatchNorm's (C,)
    depthwise       DepthwiseConvolution W (C * multiplier, *kernel) = the grouped Conv*d's
                    weight (C * multiplier, 1, *kernel)
Keras (a Keras model computes channels-last):
    same            the same elements in another shape: biases, BatchNormalization's statistics
    affine          Affine W (in, *out) = Dense kernel (in, prod(out))
    affine_cl:CxHxW Affine W after an input of NNC shape (C, H, W): the Dense kernel's rows follow
                    the channels-last flattening (H, W, C), NNC's the (C, H, W) one
    conv            Convolution W (out, in/group, *kernel) = Conv*D kernel (*kernel, in/group, out)
                    with its axes reversed as NNC orders them; Deconvolution W (in, out, *kernel) =
                    Conv*DTranspose kernel (*kernel, out, in) the same way
    depthwise       DepthwiseConvolution W (C * multiplier, *kernel) = DepthwiseConv*D kernel
                    (*kernel, C, multiplier)
    channels_last   a per-sample tensor (C, *rest) in NNC, (*rest, C) in Keras (LayerNormalization's
                    beta and gamma)

`layout(name, framework)` parses a stored name into a `Layout`; an unknown name is a ValueError.
`Layout.to_nnc(array, nnc_shape)` and `Layout.from_nnc(array, framework_shape)` are exact inverses
(the numbers are moved, never computed); `Layout.nnc_shape(framework_shape)` is NNC's shape as far
as nnabla's fans read it (`nnc_shapes.nnabla_fans`): to_nnc's array before its final reshape to the
shape the caller names (a "bn" (C,) reads as (C,), NNC's (1, C, 1, 1) holding the same C numbers).
numpy only, and only in `to_nnc` / `from_nnc` (the compiler, which needs no numpy, parses and checks
names and shapes): torch tensors and Keras variables convert to numpy at the callers' boundary.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

__all__ = ["FRAMEWORKS", "LAYOUT_NAMES", "Layout", "layout"]

Shape = tuple[int, ...]
# (framework array's shape) -> (the shape it is read in first, the permutation of those axes that
# gives NNC's order, NNC's shape as the fans read it)
Plan = tuple[Shape, Shape, Shape]


def _identity(shape: Shape) -> Shape:
    return tuple(range(len(shape)))


def _same(shape: Shape, arg: Shape) -> Plan:
    return shape, _identity(shape), shape


def _need(ok: bool, what: str) -> None:
    if not ok:
        raise ValueError(what)


def _torch_affine(shape: Shape, arg: Shape) -> Plan:
    _need(len(shape) == 2, "an nn.Linear weight (out, in)")
    return shape, (1, 0), (shape[1], shape[0])


def _torch_depthwise(shape: Shape, arg: Shape) -> Plan:
    _need(len(shape) >= 3 and shape[1] == 1, "a grouped Conv weight (C * multiplier, 1, *kernel)")
    return shape, _identity(shape), shape[:1] + shape[2:]


def _keras_conv(shape: Shape, arg: Shape) -> Plan:
    _need(len(shape) >= 3, "a Conv kernel (*kernel, in, out)")
    nd = len(shape) - 2
    perm = (nd + 1, nd, *range(nd))
    return shape, perm, tuple(shape[i] for i in perm)


def _keras_depthwise(shape: Shape, arg: Shape) -> Plan:
    _need(len(shape) >= 3, "a DepthwiseConv kernel (*kernel, C, multiplier)")
    nd = len(shape) - 2
    return shape, (nd, nd + 1, *range(nd)), (shape[nd] * shape[nd + 1], *shape[:nd])


def _keras_affine_cl(shape: Shape, arg: Shape) -> Plan:
    c, *rest = arg
    _need(len(shape) >= 2 and shape[0] == math.prod(arg), f"a Dense kernel ({math.prod(arg)}, out)")
    r = len(rest)
    split = (*rest, c, *shape[1:])
    perm = (r, *range(r), *range(r + 1, len(split)))
    return split, perm, shape


def _keras_channels_last(shape: Shape, arg: Shape) -> Plan:
    _need(len(shape) >= 1, "a tensor of one axis or more")
    perm = (len(shape) - 1, *range(len(shape) - 1))
    return shape, perm, tuple(shape[i] for i in perm)


# framework -> layout kind -> (its plan, whether it takes an argument, ":CxHxW")
_PLANS: dict[str, dict[str, tuple[Callable[[Shape, Shape], Plan], bool]]] = {
    "torch": {
        "same": (_same, False),
        "affine": (_torch_affine, False),
        "affine_bias": (_same, False),
        "bn": (_same, False),
        "depthwise": (_torch_depthwise, False),
    },
    "keras": {
        "same": (_same, False),
        "affine": (_same, False),
        "affine_cl": (_keras_affine_cl, True),
        "conv": (_keras_conv, False),
        "depthwise": (_keras_depthwise, False),
        "channels_last": (_keras_channels_last, False),
    },
}
FRAMEWORKS = tuple(_PLANS)
# The closed set of layout kinds per framework ("affine_cl" stands for every "affine_cl:CxHxW").
LAYOUT_NAMES = {framework: tuple(kinds) for framework, kinds in _PLANS.items()}


@dataclass(frozen=True)
class Layout:
    """One parameter's layout in one framework; `name` is its serialized form ("affine_cl:16x5x5")."""

    framework: str
    name: str
    kind: str
    arg: Shape = ()

    def _plan(self, framework_shape: Sequence[int]) -> Plan:
        shape = tuple(int(d) for d in framework_shape)
        plan = _PLANS[self.framework][self.kind][0]
        try:
            return plan(shape, self.arg)
        except ValueError as e:
            what = f"layout {self.name!r} ({self.framework})"
            raise ValueError(f"{what} needs {e}, not an array of shape {shape}") from None

    def nnc_shape(self, framework_shape: Sequence[int]) -> Shape:
        """NNC's shape of a framework array of `framework_shape`, as nnabla's fans read it."""
        return self._plan(framework_shape)[2]

    def to_nnc(self, array: np.ndarray, nnc_shape: Sequence[int]) -> np.ndarray:
        """The framework's `array` in NNC's order, as a new contiguous array of `nnc_shape`."""
        import numpy as np

        array = np.asarray(array)
        split, perm, _ = self._plan(array.shape)
        nnc_shape = tuple(int(d) for d in nnc_shape)
        if math.prod(nnc_shape) != array.size:
            raise ValueError(
                f"layout {self.name!r} ({self.framework}): an array of shape {array.shape} cannot be NNC's {nnc_shape}"
            )
        return np.ascontiguousarray(array.reshape(split).transpose(perm).reshape(nnc_shape))

    def from_nnc(self, array: np.ndarray, framework_shape: Sequence[int]) -> np.ndarray:
        """NNC's `array` as a new contiguous array of the framework's `framework_shape` (to_nnc's inverse)."""
        import numpy as np

        array = np.asarray(array)
        framework_shape = tuple(int(d) for d in framework_shape)
        shape, axes = self.from_nnc_steps(framework_shape)
        if array.size != math.prod(framework_shape):
            raise ValueError(
                f"layout {self.name!r} ({self.framework}): NNC's array of shape {array.shape} cannot fill "
                f"a {self.framework} array of shape {framework_shape}"
            )
        return np.ascontiguousarray(array.reshape(shape).transpose(axes).reshape(framework_shape))

    def from_nnc_steps(self, framework_shape: Sequence[int]) -> tuple[Shape, Shape]:
        """(shape, axes): `from_nnc` reshapes NNC's array to `shape`, transposes it by `axes`, then
        reshapes it to `framework_shape`; for code that converts a tensor in a graph (an NNC W given by
        a Parameter layer) with the framework's own reshape and transpose."""
        split, perm, _ = self._plan(framework_shape)
        return tuple(split[i] for i in perm), tuple(sorted(range(len(perm)), key=perm.__getitem__))


def layout(name: str, framework: str) -> Layout:
    """The `Layout` a stored `name` means in `framework` ("torch" or "keras"); ValueError for a name
    outside the framework's closed set (`LAYOUT_NAMES`) or a malformed argument."""
    if framework not in _PLANS:
        raise ValueError(f"unknown framework {framework!r}; expected one of {', '.join(FRAMEWORKS)}")
    kind, colon, text = str(name).partition(":")
    entry = _PLANS[framework].get(kind)
    if entry is None or bool(colon) != entry[1]:
        names = ", ".join(k + (":CxHxW" if takes else "") for k, (_, takes) in _PLANS[framework].items())
        raise ValueError(f"unknown {framework} parameter layout {name!r}; expected one of {names}")
    arg: Shape = ()
    if colon:
        parts = text.split("x")
        if not all(p.isdigit() and int(p) > 0 for p in parts):
            raise ValueError(f"{framework} parameter layout {name!r}: expected {kind}:CxHxW with positive sizes")
        arg = tuple(int(p) for p in parts)
    return Layout(framework, str(name), kind, arg)
