"""A Hypothesis strategy for random specs: networks drawn from the layer registry
(convolutions with stride, padding, dilation and groups, pooling, activations, residual units,
repeats, Concatenate on channels, Reshape and Transpose that reorder elements, Slice, Affine
after spatial layers). Cross-backend parity and the style of generated code are tested on them."""

from __future__ import annotations

from hypothesis import strategies as st

UNITS = """unit Residual(maps: int) {
    in x
    h = x -> c1: Convolution(maps, kernel=3x3, pad=1x1) -> b1: BatchNormalization -> ReLU
    out Add2(h, x) -> ReLU
}
"""


def _conv_size(n: int, k: int, s: int, p: int, d: int) -> int:
    return (n + 2 * p - d * (k - 1) - 1) // s + 1


@st.composite
def specs(draw) -> str:
    """A spec whose Runtime network maps a C x H x W input through random layers."""
    c, h, w = draw(st.integers(1, 4)), draw(st.integers(3, 9)), draw(st.integers(3, 9))
    lines = [f'    h0 = Input({c}x{h}x{w}, dataset="x")']
    k = 0

    def add(text: str) -> None:
        nonlocal k
        k += 1
        lines.append(f"    h{k} = {text}")

    for _ in range(draw(st.integers(1, 6))):
        kind = draw(
            st.sampled_from(
                ["conv", "conv", "bn", "act", "pool", "residual", "repeat", "concat", "reshape", "transpose", "slice"]
            )
        )
        x = f"h{k}"
        if kind == "conv":
            kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
            s, d = draw(st.integers(1, 2)), draw(st.integers(1, 2))
            ph, pw = draw(st.integers(0, kh)), draw(st.integers(0, kw))
            group = draw(st.sampled_from([g for g in (1, 2) if c % g == 0]))
            maps = group * draw(st.integers(1, 3))
            nh, nw = _conv_size(h, kh, s, ph, d), _conv_size(w, kw, s, pw, d)
            if nh < 1 or nw < 1:
                continue
            bias = draw(st.booleans())
            add(
                f"{x} -> conv{k + 1}: Convolution({maps}, kernel={kh}x{kw}, stride={s}x{s}, pad={ph}x{pw}, "
                f"dilation={d}x{d}, group={group}, bias={str(bias).lower()})"
            )
            c, h, w = maps, nh, nw
        elif kind == "bn":
            add(f"{x} -> bn{k + 1}: BatchNormalization")
        elif kind == "act":
            act = draw(st.sampled_from(["ReLU", "Tanh", "Sigmoid", "ELU", "LeakyReLU", "Swish", "Abs"]))
            add(f"{x} -> {act}")
        elif kind == "pool":
            kind_name = draw(st.sampled_from(["MaxPooling", "AveragePooling", "SumPooling"]))
            kp = draw(st.integers(1, 3))
            s = draw(st.integers(1, kp))
            p = draw(st.integers(0, kp // 2))
            border = draw(st.booleans())
            # nnabla's pooled size: without ignore_border windows may overhang the far border.
            nh, nw = ((n + p - ((kp - p) if border else 1)) // s + 1 for n in (h, w))
            if nh < 1 or nw < 1:
                continue
            add(
                f"{x} -> {kind_name}(kernel={kp}x{kp}, stride={s}x{s}, pad={p}x{p}, "
                f"ignore_border={str(border).lower()})"
            )
            h, w = nh, nw
        elif kind == "residual":
            add(f"{x} -> res{k + 1}: Residual({c})")
        elif kind == "repeat":
            add(f"{x} -> stage{k + 1}: repeat {draw(st.integers(1, 3))} {{ Residual({c}) }}")
        elif kind == "concat":
            maps = draw(st.integers(1, 3))
            add(f"{x} -> side{k + 1}: Convolution({maps}, kernel=1x1)")
            add(f"Concatenate({x}, h{k}, axis=0)")
            c += maps
        elif kind == "reshape" and h != w:  # the same elements as C x W x H: reorders them in NNC's order
            add(f"{x} -> Reshape(out_shape={c}x{w}x{h})")
            h, w = w, h
        elif kind == "transpose":
            axes = draw(st.permutations([0, 1, 2]))
            add(f"{x} -> Transpose(axes={'x'.join(map(str, axes))})")
            c, h, w = ((c, h, w)[a] for a in axes)
        elif kind == "slice":
            sh, sw = draw(st.integers(0, h - 1)), draw(st.integers(0, w - 1))
            add(f"{x} -> Slice(start=0x{sh}x{sw}, stop={c}x{h}x{w})")
            h, w = h - sh, w - sw
    head = draw(st.sampled_from(["affine", "gap", "spatial"]))
    x = f"h{k}"
    if head == "affine":
        add(f"{x} -> fc: Affine({draw(st.integers(1, 5))}) -> Softmax")
    elif head == "gap":
        add(f"{x} -> GlobalAveragePooling -> fc: Affine(3)")
    body = "\n".join(lines)
    return f"{UNITS}\nnetwork Runtime {{\n{body}\n    y = h{k}\n}}\n"
