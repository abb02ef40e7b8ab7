"""Properties: the size rules of Convolution, DepthwiseConvolution, pooling, Deconvolution and
Slice agree with brute-force numpy computations on small random cases, and the numpy values
agree with torch where torch has the same operation.

The brute-force versions never use the closed-form size formulas: they slide (or scatter)
windows one position at a time and count what they produce.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from nndsl.layers import REGISTRY
from nndsl.layers.base import ShapeError

SETTINGS = settings(max_examples=60, deadline=None, derandomize=True)


def rule(layer: str, ins: tuple, params: dict):
    """The registry's output shape, or None when the rule rejects the configuration."""
    spec = REGISTRY[layer]
    p = {q.name: q.default for q in spec.params}
    p.update(params)
    try:
        if spec.resolve is not None:
            spec.resolve(ins, p, True)
        return spec.shape(ins, p)
    except ShapeError:
        return None


# --- convolution ---------------------------------------------------------------------------


def conv_bruteforce(x, w, stride, pad, dilation, group):
    """Slide the dilated kernel over the zero-padded input one position at a time."""
    c, h, wd = x.shape
    o = w.shape[0]
    xp = np.pad(x, ((0, 0), (pad[0], pad[0]), (pad[1], pad[1])))
    span = [dilation[i] * (w.shape[2 + i] - 1) + 1 for i in range(2)]
    rows = []
    top = 0
    while top + span[0] <= xp.shape[1]:
        cols = []
        left = 0
        while left + span[1] <= xp.shape[2]:
            patch = xp[:, top : top + span[0] : dilation[0], left : left + span[1] : dilation[1]]
            cg, og = c // group, o // group
            val = np.empty(o)
            for g in range(group):
                val[g * og : (g + 1) * og] = np.einsum(
                    "ocuv,cuv->o", w[g * og : (g + 1) * og], patch[g * cg : (g + 1) * cg]
                )
            cols.append(val)
            left += stride[1]
        if not cols:
            break
        rows.append(np.stack(cols, axis=-1))
        top += stride[0]
    if not rows:
        return None
    return np.stack(rows, axis=-2)


@st.composite
def conv_cases(draw):
    group = draw(st.integers(1, 3))
    c = group * draw(st.integers(1, 2))
    out_maps = group * draw(st.integers(1, 2))
    size = (draw(st.integers(1, 9)), draw(st.integers(1, 9)))
    kernel = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    pad = (draw(st.integers(0, 3)), draw(st.integers(0, 3)))
    dilation = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    return c, out_maps, size, kernel, stride, pad, dilation, group


@SETTINGS
@given(conv_cases())
def test_convolution_size_rule(case):
    c, out_maps, size, kernel, stride, pad, dilation, group = case
    params = {
        "out_maps": out_maps,
        "kernel": kernel,
        "stride": stride,
        "pad": pad,
        "dilation": dilation,
        "group": group,
    }
    got = rule("Convolution", ((c, *size),), params)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((c, *size))
    w = rng.standard_normal((out_maps, c // group, *kernel))
    want = conv_bruteforce(x, w, stride, pad, dilation, group)
    if want is None:
        assert got is None
        return
    assert got == want.shape
    ref = F.conv2d(
        torch.from_numpy(x)[None], torch.from_numpy(w), stride=stride, padding=pad, dilation=dilation, groups=group
    )[0].numpy()
    np.testing.assert_allclose(want, ref, rtol=1e-9, atol=1e-9)


@SETTINGS
@given(
    st.integers(1, 3),
    st.integers(1, 3),
    st.integers(1, 8),
    st.integers(1, 4),
    st.integers(1, 3),
    st.sampled_from(["valid", "same", "full"]),
)
def test_depthwise_convolution_size_rule(c, multiplier, n, k, s, mode):
    params = {"kernel": (k, k), "stride": (s, s), "multiplier": multiplier, "border_mode": mode}
    got = rule("DepthwiseConvolution", ((c, n, n),), params)
    pad = {"valid": 0, "same": (k - 1) // 2, "full": k - 1}[mode]
    x = torch.zeros((1, c, n, n), dtype=torch.float64)
    w = torch.zeros((c * multiplier, 1, k, k), dtype=torch.float64)
    if n + 2 * pad < k:
        assert got is None
        return
    assert got == tuple(F.conv2d(x, w, stride=s, padding=pad, groups=c).shape[1:])


def test_convolution_same_keeps_odd_sizes():
    for k in (1, 3, 5, 7):
        for d in (1, 2):
            assert rule("Convolution", ((3, 11, 11),), {"kernel": (k, k), "dilation": (d, d)}) == (16, 11, 11)


# --- pooling -------------------------------------------------------------------------------


def pool_bruteforce(x, kernel, stride, pad, ignore_border, mode, including_pad):
    """nnabla's pooling, one window at a time (src/nbla/function/generic/*_pooling.cpp).

    With ignore_border a window must lie inside the padded input; without, there is a window
    for every stride position that starts inside the input (its left padding included), and
    windows are clipped at the borders.
    """
    c, h, w = x.shape
    n = (h, w)

    def starts(axis):
        out, y = [], 0
        while True:
            start = y * stride[axis] - pad[axis]
            fits = start + kernel[axis] <= n[axis] + pad[axis] if ignore_border else start <= n[axis] - 1
            if not fits:
                return out
            out.append(start)
            y += 1

    rows, cols = starts(0), starts(1)
    if not rows or not cols:
        return None
    out = np.empty((c, len(rows), len(cols)))
    for i, hs in enumerate(rows):
        for j, ws in enumerate(cols):
            he, we = min(hs + kernel[0], h + pad[0]), min(ws + kernel[1], w + pad[1])
            size = (he - hs) * (we - ws)
            win = x[:, max(hs, 0) : min(he, h), max(ws, 0) : min(we, w)]
            if mode == "MaxPooling":
                out[:, i, j] = win.max(axis=(1, 2))
            elif mode == "SumPooling":
                out[:, i, j] = win.sum(axis=(1, 2))
            else:
                out[:, i, j] = win.sum(axis=(1, 2)) / (size if including_pad else win[0].size)
    return out


@st.composite
def pool_cases(draw):
    kernel = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    stride = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    pad = (draw(st.integers(0, kernel[0] - 1)), draw(st.integers(0, kernel[1] - 1)))
    size = (draw(st.integers(1, 9)), draw(st.integers(1, 9)))
    mode = draw(st.sampled_from(["MaxPooling", "AveragePooling", "SumPooling"]))
    return kernel, stride, pad, size, draw(st.booleans()), mode, draw(st.booleans())


@settings(max_examples=100, deadline=None, derandomize=True)
@given(pool_cases())
def test_pooling_size_rule(case):
    kernel, stride, pad, size, ignore_border, mode, including_pad = case
    params = {"kernel": kernel, "stride": stride, "pad": pad, "ignore_border": ignore_border}
    if mode == "AveragePooling":
        params["including_pad"] = including_pad
    got = rule(mode, ((2, *size),), params)
    x = np.random.default_rng(1).standard_normal((2, *size))
    want = pool_bruteforce(x, kernel, stride, pad, ignore_border, mode, including_pad)
    if want is None:
        assert got is None
        return
    assert got == want.shape
    t = torch.from_numpy(x)[None]
    if ignore_border and all(2 * p <= k for p, k in zip(pad, kernel, strict=True)):
        # torch pools the same windows (floor mode, padding at most half the kernel).
        if mode == "MaxPooling":
            ref = F.max_pool2d(t, kernel, stride, pad)
        elif mode == "AveragePooling":
            ref = F.avg_pool2d(t, kernel, stride, pad, count_include_pad=including_pad)
        else:
            ref = F.avg_pool2d(t, kernel, stride, pad, count_include_pad=True) * (kernel[0] * kernel[1])
        np.testing.assert_allclose(want, ref[0].numpy(), rtol=1e-9, atol=1e-9)
    if mode == "MaxPooling":
        # Any mode: pad with -inf (never the maximum) and pool the windows the rule counts.
        big = F.pad(t, (pad[1], kernel[1] + stride[1], pad[0], kernel[0] + stride[0]), value=-np.inf)
        ref = F.max_pool2d(big, kernel, stride)[0, :, : want.shape[1], : want.shape[2]]
        np.testing.assert_allclose(want, ref.numpy())


@pytest.mark.parametrize(
    ("n", "k", "s", "p", "floor", "no_ignore"),
    [(7, 2, 2, 0, 3, 4), (5, 3, 1, 0, 3, 5), (6, 3, 2, 1, 3, 4), (224, 3, 2, 1, 112, 113), (4, 4, 4, 0, 1, 1)],
)
def test_pooling_examples(n, k, s, p, floor, no_ignore):
    base = {"kernel": (k, k), "stride": (s, s), "pad": (p, p)}
    assert rule("MaxPooling", ((1, n, n),), {**base, "ignore_border": True}) == (1, floor, floor)
    assert rule("MaxPooling", ((1, n, n),), {**base, "ignore_border": False}) == (1, no_ignore, no_ignore)


# --- deconvolution -------------------------------------------------------------------------


def deconv_bruteforce(x, w, stride, pad, dilation, group):
    """Scatter every input element times the kernel into the output, then crop the padding."""
    c, h, wd = x.shape
    og = w.shape[1]
    cg = c // group
    full = [(n - 1) * stride[i] + dilation[i] * (w.shape[2 + i] - 1) + 1 for i, n in enumerate((h, wd))]
    out = np.zeros((og * group, *full))
    for ci in range(c):
        g = ci // cg
        for i in range(h):
            for j in range(wd):
                for u in range(w.shape[2]):
                    for v in range(w.shape[3]):
                        out[
                            g * og : (g + 1) * og, i * stride[0] + u * dilation[0], j * stride[1] + v * dilation[1]
                        ] += x[ci, i, j] * w[ci, :, u, v]
    cropped = out[:, pad[0] : full[0] - pad[0], pad[1] : full[1] - pad[1]]
    if full[0] - 2 * pad[0] < 1 or full[1] - 2 * pad[1] < 1:
        return None
    return cropped


@st.composite
def deconv_cases(draw):
    group = draw(st.integers(1, 2))
    c = group * draw(st.integers(1, 2))
    out_maps = group * draw(st.integers(1, 2))
    size = (draw(st.integers(1, 5)), draw(st.integers(1, 5)))
    kernel = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    pad = (draw(st.integers(0, 4)), draw(st.integers(0, 4)))
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    return c, out_maps, size, kernel, stride, pad, dilation, group


@SETTINGS
@given(deconv_cases())
def test_deconvolution_size_rule(case):
    c, out_maps, size, kernel, stride, pad, dilation, group = case
    params = {
        "out_maps": out_maps,
        "kernel": kernel,
        "stride": stride,
        "pad": pad,
        "dilation": dilation,
        "group": group,
    }
    got = rule("Deconvolution", ((c, *size),), params)
    rng = np.random.default_rng(2)
    x = rng.standard_normal((c, *size))
    w = rng.standard_normal((c, out_maps // group, *kernel))
    want = deconv_bruteforce(x, w, stride, pad, dilation, group)
    if want is None:
        assert got is None
        return
    assert got == want.shape
    ref = F.conv_transpose2d(
        torch.from_numpy(x)[None], torch.from_numpy(w), stride=stride, padding=pad, dilation=dilation, groups=group
    )[0].numpy()
    np.testing.assert_allclose(want, ref, rtol=1e-9, atol=1e-9)


# --- slice ---------------------------------------------------------------------------------


@st.composite
def slice_cases(draw):
    n = draw(st.integers(1, 8))
    step = draw(st.sampled_from([-3, -2, -1, 1, 2, 3]))
    start = draw(st.integers(-n, n - 1))
    stop = draw(st.integers(-n, n + 3)) if step > 0 else draw(st.integers(-n, n - 1))
    return n, start, stop, step


@SETTINGS
@given(slice_cases())
def test_slice_matches_python_slicing(case):
    n, start, stop, step = case
    got = rule("Slice", ((2, n),), {"start": (0, start), "stop": (2, stop), "step": (1, step)})
    want = len(range(n)[start:stop:step])
    if want == 0:
        assert got is None
    else:
        assert got == (2, want)
