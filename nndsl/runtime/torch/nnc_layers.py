"""NNC's layers that torch lacks, for PyTorch: nnabla pooling (`pooling`, `MaxPooling`,
`AveragePooling`, `SumPooling`), the binary layers (`binary_tanh`, `binary_sigmoid`,
`BinaryConnectAffine`, `BinaryConnectConvolution`, `BinaryWeightAffine`, `BinaryWeightConvolution`),
`sign`, `cumulative`, `vat_noise` and `WorkingMemory` (NNC's VATNoise, WorkingMemory), and the layers
with nnabla's gradients: `fixed_point_quantize`, `pow2_quantize`, `prune`, `clip_grad_by_norm`,
`top_k_data`, `top_k_grad`, `shift`, `MeanSubtraction`, `one_hot`.

A generated project imports this file as `nnc_layers` when its model uses one of them; it needs
torch, the runtime's `nnc.py` (`init_parameter`) and `nnc_shapes.py`. Every piece cites the nnabla
source whose behaviour it reproduces (sony/nnabla `src/nbla/function/generic/*.cpp`).

Conventions, as in NNC: tensors are batch-first and channels-first, (N, C, H, W); a layer's
"per-sample" axes are the axes after the batch axis (axis 0 of a sample is C).

Randomness: every random module draws from torch's global generator of the input's device (so
`torch.manual_seed` seeds them), unless it is given `seed >= 0` (NNC's Seed), which makes a generator
of its own. nnabla draws from a Mersenne twister in a different order: the distributions match, the
streams cannot.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

# isort: split
from ..nnc_shapes import (  # nnabla's rules, one copy for the compiler and both backends
    conv_geometry,
    pool_geometry,
    pool_right_pads,
    pool_window_lengths,
    pooled_size,
)
from .nnc import init_parameter

__all__ = [
    "AveragePooling",
    "binary_sigmoid",
    "binary_tanh",
    "BinaryConnectAffine",
    "BinaryConnectConvolution",
    "BinaryWeightAffine",
    "BinaryWeightConvolution",
    "clip_grad_by_norm",
    "cumulative",
    "fixed_point_quantize",
    "MaxPooling",
    "MeanSubtraction",
    "one_hot",
    "pooled_size",
    "pooling",
    "pow2_quantize",
    "prune",
    "shift",
    "sign",
    "SumPooling",
    "top_k_data",
    "top_k_grad",
    "vat_noise",
    "WorkingMemory",
]


# ---------------------------------------------------------------------------------------------------
# Layers torch lacks
# ---------------------------------------------------------------------------------------------------


def pooling(
    x: torch.Tensor,
    mode: str,
    kernel: Sequence[int],
    stride: Sequence[int] | None = None,
    pad: Sequence[int] | None = None,
    ignore_border: bool = True,
    including_pad: bool = True,
) -> torch.Tensor:
    """nnabla's MaxPooling / AveragePooling / SumPooling over the last len(kernel) axes (1 to 3).

    Output window i covers [i*stride - pad, min(i*stride - pad + kernel, size + pad)) clipped to the
    input (nnabla `max_pooling.cpp`, `average_pooling.cpp`): "max" takes the maximum of the input
    elements in it (padding never wins), "sum" their sum, "average" their sum divided by the window
    length before clipping at 0 and `size` (including_pad, NNC's default) or after (not including pad).
    Done as F.pad (zeros, or -inf for max) followed by torch's pooling without padding.
    `stride` defaults to the kernel (NNC), `pad` to 0.
    """
    kernel, stride, pad = pool_geometry(mode, kernel, stride, pad)
    nd = len(kernel)
    if x.dim() < nd:
        raise ValueError(f"pooling: kernel {kernel} for input {tuple(x.shape)}")
    sizes = tuple(x.shape[-nd:])
    outs = [pooled_size(n, k, s, p, ignore_border) for n, k, s, p in zip(sizes, kernel, stride, pad, strict=True)]
    rights = pool_right_pads(sizes, outs, kernel, stride, pad)
    spec: list[int] = []
    for p, r in zip(reversed(pad), reversed(rights), strict=True):
        spec += [p, r]
    lead = x.shape[:-nd]
    flat = x.reshape((-1, 1) + sizes)
    fill = float("-inf") if mode == "max" else 0.0
    padded = F.pad(flat, spec, value=fill)
    if mode == "max":
        y = (F.max_pool1d, F.max_pool2d, F.max_pool3d)[nd - 1](padded, kernel, stride)
    else:
        y = (F.avg_pool1d, F.avg_pool2d, F.avg_pool3d)[nd - 1](padded, kernel, stride) * math.prod(kernel)
        if mode == "average":
            y = y / _pool_divisor(sizes, outs, kernel, stride, pad, including_pad, x.device, y.dtype)
    return y.reshape(*lead, *outs)


def _pool_divisor(sizes, outs, kernel, stride, pad, including_pad, device, dtype) -> torch.Tensor:
    """Per-window element counts of nnabla's AveragePooling, the outer product of per-axis lengths."""
    divisor = torch.ones((), device=device, dtype=dtype)
    for axis, (n, o, k, s, p) in enumerate(zip(sizes, outs, kernel, stride, pad, strict=True)):
        length = torch.tensor(pool_window_lengths(n, o, k, s, p, including_pad), device=device, dtype=dtype)
        view = [1] * len(sizes)
        view[axis] = o
        divisor = divisor * length.view(view)
    return divisor


class _Pooling(nn.Module):
    mode = ""

    def __init__(
        self,
        kernel: Sequence[int],
        stride: Sequence[int] | None = None,
        ignore_border: bool = True,
        pad: Sequence[int] | None = None,
        including_pad: bool = True,
    ) -> None:
        super().__init__()
        self.kernel, self.stride, self.pad = pool_geometry(self.mode, kernel, stride, pad)
        self.ignore_border = ignore_border
        self.including_pad = including_pad

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return pooling(x, self.mode, self.kernel, self.stride, self.pad, self.ignore_border, self.including_pad)

    def extra_repr(self) -> str:
        return f"kernel={self.kernel}, stride={self.stride}, pad={self.pad}, ignore_border={self.ignore_border}"


class MaxPooling(_Pooling):
    """NNC's MaxPooling with nnabla's border rule (see `pooling`)."""

    mode = "max"


class AveragePooling(_Pooling):
    """NNC's AveragePooling with nnabla's border rule and IncludingPad (see `pooling`)."""

    mode = "average"


class SumPooling(_Pooling):
    """NNC's SumPooling with nnabla's border rule (see `pooling`)."""

    mode = "sum"


class _BinaryTanh(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return torch.where(x > 0, torch.ones_like(x), -torch.ones_like(x))

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * (x.abs() < 1).to(grad.dtype)


class _BinarySigmoid(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return (x > 0).to(x.dtype)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * 0.5 * (x.abs() < 1).to(grad.dtype)


def binary_tanh(x: torch.Tensor) -> torch.Tensor:
    """NNC's BinaryTanh (nnabla `binary_tanh.hpp`): +1 for x > 0, -1 for x <= 0; gradient dy where |x| < 1, else 0."""
    return _BinaryTanh.apply(x)


def binary_sigmoid(x: torch.Tensor) -> torch.Tensor:
    """NNC's BinarySigmoid (nnabla `binary_sigmoid.hpp`): 1 for x > 0, 0 for x <= 0; gradient dy/2 where |x| < 1."""
    return _BinarySigmoid.apply(x)


class _Sign(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, alpha):
        return torch.full_like(x, alpha).masked_fill_(x > 0, 1.0).masked_fill_(x < 0, -1.0)

    @staticmethod
    def backward(ctx, grad):
        return grad, None


def sign(x: torch.Tensor, alpha: float = 0.0) -> torch.Tensor:
    """NNC's Sign (nnabla `sign.hpp`): +1 for x > 0, -1 for x < 0, alpha otherwise (0 and NaN); the
    gradient passes straight through (dy, unclipped)."""
    return _Sign.apply(x, alpha)


def cumulative(x: torch.Tensor, op: str, dim: int, exclusive: bool = False, reverse: bool = False) -> torch.Tensor:
    """NNC's CumSum and CumProd (`op` "sum" or "prod"; nnabla `cumsum.cpp`, `cumprod.cpp`) along `dim`:
    exclusive leaves each element out of its own total (the first total is 0, or 1 for a product),
    reverse accumulates from the end."""
    if reverse:
        x = x.flip(dim)
    if exclusive:
        first = torch.full_like(x.narrow(dim, 0, 1), 0.0 if op == "sum" else 1.0)
        x = torch.cat([first, x.narrow(dim, 0, x.shape[dim] - 1)], dim)
    y = torch.cumsum(x, dim) if op == "sum" else torch.cumprod(x, dim)
    return y.flip(dim) if reverse else y


class _BinarizeSTE(torch.autograd.Function):
    """sign(w) (0 -> +1) times an optional scale; the gradient reaches w unchanged.

    nnabla's binary layers run their affine/convolution on the binarized (scaled) weights and hand the
    gradient with respect to those weights to W through `Sign`, whose gradient is a "full straight
    through" (nnabla `sign.hpp`): no clipping and, for BinaryWeight*, no factor alpha. Zero maps to +1,
    the default `quantize_zero_to=1.0` of current nnabla.
    """

    @staticmethod
    def forward(ctx, w, scale):
        q = torch.ones_like(w).masked_fill_(w < 0, -1.0)
        return q if scale is None else q * scale

    @staticmethod
    def backward(ctx, grad):
        return grad, None


class _BinaryLayer(nn.Module):
    """Shared parameters of NNC's binary layers: W (trainable), Wb (its binarized copy, state), b."""

    scaled = False  # BinaryWeight*: weights are alpha * sign(W), alpha = mean |W| per output

    def _make_params(self, w_shape, out_shape, bias, w_init, w_init_multiplier, b_init, b_init_multiplier):
        self.W = nn.Parameter(torch.empty(w_shape))
        init_parameter(self.W, w_init, w_init_multiplier)
        self.register_buffer("Wb", torch.zeros(w_shape))
        if self.scaled:
            self.register_buffer("alpha", torch.zeros(out_shape))
        if bias:
            self.b = nn.Parameter(init_parameter(torch.empty(out_shape), b_init, b_init_multiplier))
        else:
            self.register_parameter("b", None)

    def _alpha(self) -> torch.Tensor:
        raise NotImplementedError

    def binarized_weight(self) -> torch.Tensor:
        """The weights the layer computes with; refreshes the Wb (and alpha) state as nnabla's forward does."""
        scale = None
        if self.scaled:
            with torch.no_grad():
                alpha = self._alpha()
                self.alpha.copy_(alpha.reshape(self.alpha.shape))
            scale = alpha
        weight = _BinarizeSTE.apply(self.W, scale)
        with torch.no_grad():
            self.Wb.copy_(torch.ones_like(self.W).masked_fill_(self.W < 0, -1.0))
        return weight


class _BinaryAffine(_BinaryLayer):
    def __init__(
        self,
        in_features: int,
        out_shape: int | Sequence[int],
        bias: bool = True,
        w_init: str = "UniformAffineGlorot",
        w_init_multiplier: float = 1.0,
        b_init: str = "Constant",
        b_init_multiplier: float = 0.0,
    ) -> None:
        super().__init__()
        self.out_shape = (int(out_shape),) if isinstance(out_shape, int) else tuple(int(s) for s in out_shape)
        self.in_features = int(in_features)
        self.out_numel = math.prod(self.out_shape)
        w_shape = (self.in_features, *self.out_shape)
        self._make_params(w_shape, self.out_shape, bias, w_init, w_init_multiplier, b_init, b_init_multiplier)

    def _alpha(self) -> torch.Tensor:
        # nnabla binary_weight_affine.cpp: the mean of |W| over the inputs, one per output.
        return self.W.abs().mean(dim=0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.binarized_weight().reshape(self.in_features, self.out_numel)
        y = x.reshape(x.shape[0], -1) @ w
        if self.b is not None:
            y = y + self.b.reshape(-1)
        return y.reshape(x.shape[0], *self.out_shape)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_shape={self.out_shape}, bias={self.b is not None}"


class BinaryConnectAffine(_BinaryAffine):
    """NNC's BinaryConnectAffine (nnabla `binary_connect_affine.cpp`): y = x sign(W) + b.

    W is NNC's Affine layout (in_features, *out_shape); the input is flattened after the batch axis.
    Wb (state) holds sign(W) after each forward, as in nnabla; the gradient of sign(W) goes to W
    straight through.
    """


class BinaryWeightAffine(_BinaryAffine):
    """NNC's BinaryWeightAffine (nnabla `binary_weight_affine.cpp`): y = x (alpha * sign(W)), no bias.

    alpha (state, out_shape) = mean |W| over the inputs per output, recomputed each forward; the gradient
    with respect to alpha * sign(W) goes to W unchanged (no factor alpha, nothing through alpha). NNC's
    files hold alpha as the layer's `b`.
    """

    scaled = True

    def __init__(
        self,
        in_features: int,
        out_shape: int | Sequence[int],
        w_init: str = "UniformAffineGlorot",
        w_init_multiplier: float = 1.0,
    ) -> None:
        super().__init__(in_features, out_shape, bias=False, w_init=w_init, w_init_multiplier=w_init_multiplier)


class _BinaryConvolution(_BinaryLayer):
    def __init__(
        self,
        in_channels: int,
        out_maps: int,
        kernel: Sequence[int],
        stride: Sequence[int] | None = None,
        pad: Sequence[int] | None = None,
        dilation: Sequence[int] | None = None,
        bias: bool = True,
        w_init: str = "UniformConvolutionGlorot",
        w_init_multiplier: float = 1.0,
        b_init: str = "Constant",
        b_init_multiplier: float = 0.0,
    ) -> None:
        super().__init__()
        self.kernel, self.stride, self.pad, self.dilation = conv_geometry(
            kernel, stride, pad, dilation, "binary convolution"
        )
        self.in_channels, self.out_maps = int(in_channels), int(out_maps)
        self._make_params(
            (self.out_maps, self.in_channels, *self.kernel),
            (self.out_maps,),
            bias,
            w_init,
            w_init_multiplier,
            b_init,
            b_init_multiplier,
        )

    def _alpha(self) -> torch.Tensor:
        # nnabla binary_weight_convolution.cpp: the mean of |W| over (in, *kernel), one per output map.
        return self.W.abs().reshape(self.out_maps, -1).mean(dim=1).reshape((-1,) + (1,) * (self.W.dim() - 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        conv = (F.conv1d, F.conv2d, F.conv3d)[len(self.kernel) - 1]
        return conv(x, self.binarized_weight(), self.b, self.stride, self.pad, self.dilation)

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_maps}, kernel={self.kernel}, stride={self.stride}, pad={self.pad}, "
            f"dilation={self.dilation}, bias={self.b is not None}"
        )


class BinaryConnectConvolution(_BinaryConvolution):
    """NNC's BinaryConnectConvolution (nnabla `binary_connect_convolution.cpp`): convolution with sign(W).

    W is (out_maps, in_channels, *kernel) as NNC and torch store it; Wb (state) holds sign(W) after each
    forward; the gradient goes to W straight through.
    """


class BinaryWeightConvolution(_BinaryConvolution):
    """NNC's BinaryWeightConvolution (nnabla `binary_weight_convolution.cpp`): convolution with alpha * sign(W).

    alpha (state, (out_maps,)) = mean |W| over (in, *kernel) per output map; gradient as BinaryWeightAffine.
    No bias (NNC's files hold alpha as the layer's `b`).
    """

    scaled = True

    def __init__(
        self,
        in_channels: int,
        out_maps: int,
        kernel: Sequence[int],
        stride: Sequence[int] | None = None,
        pad: Sequence[int] | None = None,
        dilation: Sequence[int] | None = None,
        w_init: str = "UniformConvolutionGlorot",
        w_init_multiplier: float = 1.0,
    ) -> None:
        super().__init__(in_channels, out_maps, kernel, stride, pad, dilation, False, w_init, w_init_multiplier)


class _VATNoise(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, buf, dims, eps):
        ctx.buf, ctx.eps = buf, eps
        return eps * x / torch.sqrt(x.square().sum(dim=dims, keepdim=True) + 1e-8)

    @staticmethod
    def backward(ctx, grad):
        with torch.no_grad():
            ctx.buf.copy_(ctx.eps * grad)
        return torch.zeros_like(grad), None, None, None


def vat_noise(x: torch.Tensor, buf: torch.Tensor, base_axis: int = 0, eps: float = 1e-4) -> torch.Tensor:
    """NNC's VATNoise (nnabla `vat_noise.cpp`): eps * x / sqrt(sum x^2 + 1e-8), the sum over each sample's
    axes from `base_axis` on. The backward gives x no gradient and writes eps times the output's gradient
    into `buf` (a WorkingMemory's buffer, which `WorkingMemory.forward` returns itself). Like nnabla's, it
    runs only where an input needs a gradient (the WorkingMemory's lrate_multiplier above 0)."""
    dims = tuple(range(base_axis + 1, x.dim()))
    return _VATNoise.apply(x, buf, dims, eps)


class WorkingMemory(nn.Module):
    """NNC's WorkingMemory: one buffer value per sample of shape `size`, kept between steps.

    nnabla makes it a variable of the network's batch, (batch, *size), filled once by the initializer;
    networks holding a WorkingMemory of the same name share it (here: the same module). It is created at
    the first call, for the batch size of the tensor it is given; a call with another batch size starts a
    new buffer. It is state, not a parameter: no optimizer updates it and parameter files do not hold it
    (nnabla's do not). With `needs_grad` (NNC's LRateMultiplier above 0) a VATNoise reading it runs its backward.
    """

    def __init__(self, size: Sequence[int], init: str = "Normal", multiplier: float = 1.0, needs_grad: bool = False):
        super().__init__()
        self.size, self.init, self.multiplier, self.needs_grad = tuple(size), init, multiplier, needs_grad
        self.register_buffer("buf", None, persistent=False)

    def forward(self, like: torch.Tensor) -> torch.Tensor:
        """The buffer for `like`'s batch size, on its device."""
        batch = like.shape[0]
        if self.buf is None or self.buf.shape[0] != batch or self.buf.device != like.device:
            dtype = like.dtype if like.is_floating_point() else torch.get_default_dtype()
            buf = torch.empty((batch, *self.size), device=like.device, dtype=dtype)
            self.buf = init_parameter(buf, self.init, self.multiplier)
        # The buffer itself, not a copy: VATNoise's backward writes into it.
        return self.buf.requires_grad_(self.needs_grad)


# ---------------------------------------------------------------------------------------------------
# 7. Quantizers, pruning, top-k, gradient clipping, Shift, MeanSubtraction, DepthwiseDeconvolution
# ---------------------------------------------------------------------------------------------------
# nnabla's `fixed_point_quantize.cpp`, `pow2_quantize.cpp`, `prune.cpp`, `top_k_data.cpp`,
# `top_k_grad.cpp`, `clip_grad_by_norm.cpp`, `shift.cpp`, `mean_subtraction.cpp`; checked against nnabla
# 1.39 forward and backward (tests/nnc/test_nnabla_backward_layers.py).


class _StraightThrough(torch.autograd.Function):
    """`q` in the forward pass; the gradient reaches x times `mask` (a straight-through estimator)."""

    @staticmethod
    def forward(ctx, x, q, mask):
        ctx.save_for_backward(mask)
        return q

    @staticmethod
    def backward(ctx, grad):
        (mask,) = ctx.saved_tensors
        return grad * mask, None, None


def _straight_through(x: torch.Tensor, q: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    mask = torch.ones_like(x) if mask is None else mask.to(x.dtype)
    return _StraightThrough.apply(x, q.detach(), mask)


def _round(x: torch.Tensor) -> torch.Tensor:
    """Rounding half away from zero (C's `std::round`; torch.round rounds half to even)."""
    return torch.sign(x) * torch.floor(x.abs() + 0.5)


def fixed_point_quantize(
    x: torch.Tensor, sign: bool = True, n: int = 8, delta: float = 0.0625, ste_fine_grained: bool = True
) -> torch.Tensor:
    """NNC's FixedPointQuantize: sign(x) * floor(|x| / delta + 1/2) * delta, clipped to [-(2^(n-1) - 1) delta,
    (2^(n-1) - 1) delta] (signed) or [0, (2^n - 1) delta]. The gradient is dy inside that range and 0 outside
    (ste_fine_grained), or dy everywhere."""
    top = ((1 << (n - 1)) - 1) * delta if sign else ((1 << n) - 1) * delta
    bottom = -top if sign else 0.0
    q = torch.clamp(torch.sign(x) * torch.floor(x.abs() / delta + 0.5) * delta, bottom, top)
    mask = ((x >= bottom) & (x <= top)) if ste_fine_grained else None
    return _straight_through(x, q, mask)


def pow2_quantize(
    x: torch.Tensor, sign: bool = True, with_zero: bool = True, n: int = 8, m: int = 1, ste_fine_grained: bool = True
) -> torch.Tensor:
    """NNC's Pow2Quantize: 2^round(log2 |x|) with x's sign, limited to [2^(m - (2^b - 1)), 2^m] where b is n less
    one bit for the sign and one for zero; with_zero rounds magnitudes below min / sqrt(2) to 0, else to min.
    Unsigned, negative values give 0 (with_zero) or min. The gradient is dy except where 2^round(log2 |x|)
    is above 2^m or (unsigned) x < 0 (ste_fine_grained), or dy everywhere."""
    bits = n - int(sign) - int(with_zero)
    top = 2.0**m
    bottom = float(np.float32(2.0 ** (m - ((1 << bits) - 1))))  # nnabla's float: 0 when it underflows
    a = x.abs()
    q = torch.pow(2.0, _round(torch.log2(a)))
    over = q > top
    q = torch.where(over, torch.full_like(q, top), q)
    small = q < bottom
    if with_zero:
        q = torch.where(small, torch.where(a < bottom * 2**-0.5, 0.0, bottom), q)
    else:
        q = torch.where(small, torch.full_like(q, bottom), q)
    negative = -q if sign else torch.full_like(q, 0.0 if with_zero else bottom)
    q = torch.where(x < 0, negative, q)
    mask = None
    if ste_fine_grained:
        mask = ~over if sign else ~over & (x >= 0)
    return _straight_through(x, q, mask)


def prune(x: torch.Tensor, rate: float = 0.9) -> torch.Tensor:
    """NNC's Prune: the elements of the whole batch whose magnitude is below the one at index
    int((size - 1) * rate) of the sorted magnitudes become 0 (all of them for rate 1). The gradient reaches
    every element (straight through)."""
    a = x.detach().abs()
    threshold = a.flatten().sort().values[int((a.numel() - 1) * rate)] + (1.0 if rate == 1.0 else 0.0)
    return _straight_through(x, torch.where(a < threshold, torch.zeros_like(x), x))


class _ClipGradByNorm(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, clip_norm, dims):
        ctx.clip_norm, ctx.dims = clip_norm, dims
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad):
        return ctx.clip_norm * grad / grad.square().sum(dim=ctx.dims, keepdim=True).sqrt(), None, None


def clip_grad_by_norm(x: torch.Tensor, clip_norm: float = 1.0, dims: Sequence[int] = (1,)) -> torch.Tensor:
    """NNC's ClipGradByNorm: x unchanged; the gradient dy becomes clip_norm * dy / ||dy||, the norm over
    the tensor dims `dims` (nnabla rescales it whether the norm is above clip_norm or not)."""
    return _ClipGradByNorm.apply(x, clip_norm, tuple(dims))


def _top_k_mask(x: torch.Tensor, k: int, use_abs: bool, base_axis: int, largest: bool = True) -> torch.Tensor:
    """1 at the k largest (smallest) elements, in magnitude with use_abs, of each sample's axes from base_axis on."""
    flat = x.flatten(base_axis + 1)
    index = (flat.abs() if use_abs else flat).topk(k, dim=-1, largest=largest).indices
    return torch.zeros_like(flat).scatter_(-1, index, 1.0).reshape(x.shape)


def top_k_data(
    x: torch.Tensor, k: int, abs: bool = False, reduce: bool = True, base_axis: int = 0, largest: bool = False
) -> torch.Tensor:
    """NNC's TopKData: the k smallest (largest) values, in magnitude with abs, of each sample's elements from
    base_axis on, in that order, shape (..., k) with reduce; else x with the other elements set to 0, whose
    gradient nnabla passes unchanged to every element. NNC's files carry no `largest`, which nnabla reads
    as false: NNC's TopKData keeps the k smallest, despite its documentation (nnabla 1.39)."""
    flat = x.flatten(base_axis + 1)
    if reduce:
        index = (flat.abs() if abs else flat).topk(k, dim=-1, largest=largest).indices
        return flat.gather(-1, index)
    mask = _top_k_mask(x.detach(), k, abs, base_axis, largest)
    return _straight_through(x, x * mask)


class _TopKGrad(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, k, use_abs, base_axis):
        ctx.k, ctx.use_abs, ctx.base_axis = k, use_abs, base_axis
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad):
        return grad * _top_k_mask(grad, ctx.k, ctx.use_abs, ctx.base_axis), None, None, None


def top_k_grad(x: torch.Tensor, k: int, abs: bool = False, base_axis: int = 0) -> torch.Tensor:
    """NNC's TopKGrad: x unchanged; of the gradient only the k largest values (in magnitude with abs) of each
    sample's elements from base_axis on pass, the others become 0."""
    return _TopKGrad.apply(x, k, abs, base_axis)


def shift(x: torch.Tensor, shifts: Sequence[int], border_mode: str = "nearest") -> torch.Tensor:
    """NNC's Shift: y[..., i] = x[..., i - s] along each of the last len(shifts) axes; indices outside
    repeat the nearest border element ("nearest") or mirror the axis, the border included ("reflect")."""
    for k, s in enumerate(shifts):
        if s == 0:
            continue
        dim = x.dim() - len(shifts) + k
        n = x.shape[dim]
        index = torch.arange(n, device=x.device) - s
        if border_mode == "nearest":
            index = index.clamp(0, n - 1)
        else:
            index = index.remainder(2 * n)
            index = torch.where(index >= n, 2 * n - 1 - index, index)
        x = x.index_select(dim, index)
    return x


class MeanSubtraction(nn.Module):
    """NNC's MeanSubtraction: x minus a running mean of the samples (state `mean`, of the sample's shape from
    base_axis on, and the count `t`, both in NNC's parameter files). With update_running_mean, every call
    first moves the mean towards the batch's, mean += (batch mean - mean) / (t + 1) with t read as an
    integer, and counts t up, as nnabla does in any network (trained or not). Its gradient is then nnabla's
    approximation, dy * (1 - 1 / (samples * (t + 1))), samples the count of values averaged; without
    update_running_mean, dy."""

    def __init__(self, shape: Sequence[int], base_axis: int = 0, update_running_mean: bool = True):
        super().__init__()
        self.base_axis, self.update_running_mean = base_axis, update_running_mean
        self.register_buffer("mean", torch.zeros(tuple(shape)))
        self.register_buffer("t", torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.update_running_mean:
            return x - self.mean
        with torch.no_grad():
            count = self.t.trunc()
            batch = x.detach().mean(dim=tuple(range(self.base_axis + 1)))
            self.mean += (batch - self.mean) / (count + 1)
            self.t.copy_(count + 1)
            samples = math.prod(x.shape[: self.base_axis + 1])
            slope = (1 - 1 / (samples * self.t)).expand_as(x)
        return _straight_through(x, x - self.mean, slope)


def one_hot(x: torch.Tensor, shape: Sequence[int]) -> torch.Tensor:
    """nnabla's one_hot: the last axis of `x` holds one integer index per axis of `shape`, and is replaced by
    `shape`, 1 at that index and 0 elsewhere."""
    strides = [math.prod(shape[k + 1 :]) for k in range(len(shape))]
    flat = (x.long() * torch.tensor(strides, device=x.device)).sum(-1)
    return F.one_hot(flat, math.prod(shape)).to(torch.get_default_dtype()).unflatten(-1, tuple(shape))
