"""A network input keeps the name of its Input statement: a later binding of the same value (an
alias `s = x` in a unit the input flows into, or at the top) does not rename it, so the generated
model's arguments and `run_network`'s keys are the names the spec gave its inputs."""

from nndsl.backends.torch.render import build
from nndsl.compiler import compile_file

SPEC = """
unit Block(maps: int) {
    in x
    h = x -> conv: Convolution(maps, kernel=3x3)
    s = x
    out Add2(h, s)
}

network Runtime {
    image = Input(4x8x8, dataset="x")
    alias = image
    y = alias -> b: Block(4) -> ReLU
}
"""


def test_an_input_aliased_in_a_unit_and_at_the_top_keeps_its_name():
    result = compile_file("inputs.nnd", text=SPEC)
    assert result.ok, [str(d) for d in result.diagnostics]
    net = result.project.network("Runtime")
    assert [net.values[v].name for v in net.inputs] == ["image"]
    (runtime,) = build(result.project).networks
    assert [name for name, *_ in runtime.inputs] == ["image"]
    assert [name for name, _ in runtime.outputs] == ["y"]
