"""Arithmetic with a tensor operand lowers to NNC's arithmetic layers; arithmetic of built-in
functions and shapes (`int(maps * 1.5) * 2 + x.shape[0]`) stays a constant, in the same spec."""

from nndsl.compiler import compile_file

SPEC = """
unit B(maps: int) {
    in x
    out x -> c: Convolution(int(maps * 1.5) * 2 + x.shape[0], kernel=1x1)
}

network Training {
    x = Input(4x8x8, dataset="x")
    t = Input(1, dataset="y")
    h = x -> b: B(4) -> GlobalAveragePooling -> fc: Affine(3)
    loss = SoftmaxCrossEntropy(h, t) + 0.3 * SoftmaxCrossEntropy(h, t)
}
"""


def test_constant_arithmetic_of_builtins_and_shapes_beside_tensor_arithmetic():
    result = compile_file("arith.nnd", text=SPEC)
    assert result.ok, [str(d) for d in result.diagnostics]
    net = result.project.network("Training")
    (conv,) = [layer for layer in net.layers if layer.type == "Convolution"]
    assert conv.params["out_maps"] == int(4 * 1.5) * 2 + 4
    types = [layer.type for layer in net.layers]
    assert types.count("MulScalar") == 1 and types.count("Add2") == 1
