"""The PyTorch model generator: every spec renders to parseable, byte-stable code that names
every parameter the IR has, in NNC's naming scheme. (Running the generated models is tested
with the rest of the PyTorch backend; their style in test_generated_style.py.)"""

import ast

import pytest
from conftest import REQUIRED_LAYERS, SPECS

from nndsl.backends.torch.render import build, render_model
from nndsl.compiler import compile_file


@pytest.fixture(scope="module", params=SPECS, ids=[p.stem for p in SPECS])
def rendered(request, tmp_path_factory):
    project = compile_file(request.param.relative_to(request.param.parents[1])).project
    m = build(project)  # built once for the tests that read the build (a big spec's takes seconds)
    path = tmp_path_factory.mktemp("gen") / "model.py"
    path.write_text(render_model(project, m), encoding="utf-8")
    return project, path, m


def test_parses_and_is_byte_stable(rendered):
    project, path, _ = rendered
    text = path.read_text(encoding="utf-8")
    ast.parse(text)
    assert render_model(project) == text  # a second build, from scratch, writes the same bytes


def test_every_ir_parameter_is_named_once(rendered):
    project, _, m = rendered
    assert {p.nnc for p in m.params} == set(project.parameter_table())
    assert len({p.attr for p in m.params}) == len(m.params)


def test_networks_and_shared_blocks(rendered):
    project, _, m = rendered
    assert [n.name for n in m.networks] == [n.name for n in project.networks]
    # Every network of a spec shares its backbone: one attribute on Model per shared scope.
    attrs = [a for a, _ in m.model.modules]
    assert len(attrs) == len(set(attrs))


REQUIRED = [t for t in REQUIRED_LAYERS if t != "Input"]  # Input is the network's argument


def test_every_layer_the_projects_need_has_a_torch_emitter():
    from nndsl.backends.torch.emit import EMITTERS
    from nndsl.layers import REGISTRY

    assert set(EMITTERS) <= set(REGISTRY)
    assert [t for t in REQUIRED if t not in EMITTERS] == []
