"""Loss and validation layers: SquaredError, SoftmaxCrossEntropy... and TopNError, BinaryError.

The target is a real tensor input (NNC's ``T.Dataset`` pin): ``inputs=("x", "T")``.
Shapes as nnabla: elementwise losses need a target of the input's shape; the categorical
ones take a class index per position (the input's shape with `axis` of size 1) and output
that shape; KLMultinomial reduces everything from `base_axis` to one value.
"""

from __future__ import annotations

from .base import (
    FLOAT,
    INT,
    LayerSpec,
    Params,
    Shape,
    ShapeError,
    axis_index,
    check_at_least,
    fmt_shape,
    nnc_category,
    nnc_params,
    register,
    same_shape_as_input,
)

_ELEMENTWISE = {
    "SquaredError": ({}, "(x - T)^2"),
    "AbsoluteError": ({}, "|x - T|"),
    "HuberLoss": ({"Delta": FLOAT}, "Huber loss of x - T (quadratic within delta, linear outside)"),
    "EpsilonInsensitiveLoss": ({"Epsilon": FLOAT}, "max(0, |x - T| - epsilon)"),
    "BinaryCrossEntropy": ({}, "-(T log x + (1 - T) log(1 - x)) for probabilities x"),
    "SigmoidCrossEntropy": ({}, "binary cross entropy of sigmoid(x) (x are logits)"),
}

for _type, (_types, _expr) in _ELEMENTWISE.items():
    register(
        LayerSpec(
            type=_type,
            category=nnc_category(_type),
            inputs=("x", "T"),
            params=nnc_params(_type, _types),
            shape=same_shape_as_input(1, _type),
            kind="loss",
            doc=f"Elementwise {_expr}. The target T must have the input's shape; so has the output.",
        )
    )


def class_index_shape(ins: tuple[Shape, ...], p: Params, what: str) -> Shape:
    """nnabla's rule for a label of class indices along `axis`."""
    x, t = ins
    if not x:
        raise ShapeError(f"{what} needs an input with a class axis, got a scalar per sample", input=0)
    a = axis_index(p["axis"], len(x), "axis")
    want = (*x[:a], 1, *x[a + 1 :])
    if t != want:
        hint = " (that looks like a one-hot target; give the class index instead)" if t == x and x[a] != 1 else ""
        raise ShapeError(
            f"{what} takes one class index per position: the label must have shape {fmt_shape(want)} "
            f"(the input {fmt_shape(x)} with axis {a} of size 1), got {fmt_shape(t)}{hint}",
            input=1,
        )
    return want


for _type, _expr in (
    ("SoftmaxCrossEntropy", "-log softmax(x)[T] along `axis` (x are logits)"),
    ("CategoricalCrossEntropy", "-log x[T] along `axis` (x are probabilities)"),
):
    register(
        LayerSpec(
            type=_type,
            category=nnc_category(_type),
            inputs=("x", "T"),
            params=nnc_params(_type, {"Axis": INT}),
            shape=lambda ins, p, _t=_type: class_index_shape(ins, p, _t),
            kind="loss",
            class_label=True,
            doc=f"Cross entropy {_expr}, T a class index: x 10 with T 1 gives 1; in general T and the output "
            "are the input's shape with `axis` of size 1.",
        )
    )


def kl_shape(ins: tuple[Shape, ...], p: Params) -> Shape:
    x, q = ins
    if q != x:
        raise ShapeError(
            f"KLMultinomial compares two distributions: q must have the input's shape {fmt_shape(x)}, "
            f"got {fmt_shape(q)}",
            input=1,
        )
    if not x:
        raise ShapeError("KLMultinomial needs an input with at least one axis", input=0)
    b = axis_index(p["base_axis"], len(x), "base_axis")
    return (*x[:b], 1)


register(
    LayerSpec(
        type="KLMultinomial",
        category=nnc_category("KLMultinomial"),
        inputs=("p", "q"),
        params=nnc_params("KLMultinomial", {"BaseAxis": INT}),
        shape=kl_shape,
        kind="loss",
        doc="Kullback-Leibler divergence of the distributions p (the input) and q (the target, same shape), "
        "summed over the axes from base_axis on: the output is the input's axes before base_axis and a 1.",
    )
)


def top_n_shape(ins: tuple[Shape, ...], p: Params) -> Shape:
    check_at_least(p["n"], 1, "n")
    return class_index_shape(ins, p, "TopNError")


register(
    LayerSpec(
        type="TopNError",
        category=nnc_category("TopNError"),
        inputs=("x", "T"),
        params=nnc_params("TopNError", {"Axis": INT, "N": INT}),
        positional=("n",),
        shape=top_n_shape,
        kind="error",
        class_label=True,
        doc="1 where the score of the label's class T is not among the n largest along `axis`, else 0. "
        "T and the output are the input's shape with `axis` of size 1 (x 10, T 1 give 1).",
    )
)

register(
    LayerSpec(
        type="BinaryError",
        category=nnc_category("BinaryError"),
        inputs=("x", "T"),
        params=nnc_params("BinaryError", {}),
        shape=same_shape_as_input(1, "BinaryError"),
        kind="error",
        doc="1 where x and T fall on different sides of 0.5, else 0. T must have the input's shape; so has the output.",
    )
)
