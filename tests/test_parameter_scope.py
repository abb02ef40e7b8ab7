"""`parameter_scope="enc"`: NNC's ParameterScope as a layer keyword (docs/language.md, "Names of
layers, and shared parameters").

A layer with `parameter_scope="s"` names its parameters `s/...` in its enclosing scope (unit
instances, repeat copies: `u1.s`, `steps[0].s`), and every layer with the same one shares them,
in its own network too; the label stays the layer's name. Sharing layers must be of one type
(E0506) with the same parameter shapes (E0501), reported at the second with a note at the first.
Both backends give the sharing layers one module, so one gradient step changes the shared
weights once, by the sum of both uses' gradients.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import import_generated

from nndsl.compiler import compile_file
from nndsl.fmt import format_module
from nndsl.nnc.names import nnc_parameter_table
from nndsl.summary import to_json
from nndsl.syntax.parser import parse

SHARED = """\
network Training {
    x = Input(4, dataset="x")
    t = Input(2, dataset="y")
    h1 = x -> a: Affine(2, parameter_scope="enc")
    h2 = x -> MulScalar(2.0) -> Tanh -> b: Affine(2, parameter_scope="enc")
    loss = Add2(h1, h2) -> SquaredError(t)
}
"""


def _compile(text: str):
    return compile_file("t.nnd", text=text)


def _errors(text: str) -> list:
    return [d for d in _compile(text).diagnostics if d.severity == "error"]


def test_fmt_keeps_parameter_scope_and_is_canonical():
    module, diagnostics = parse(SHARED, "t.nnd")
    assert not diagnostics
    assert format_module(module) == SHARED


def test_layers_of_one_scope_share_their_parameters_and_keep_their_labels():
    result = _compile(SHARED)
    assert result.ok, [str(d) for d in result.diagnostics]
    net = result.project.networks[0]
    names = [layer.name for layer in net.layers]
    assert "a" in names and "b" in names  # labels stay the layers' names
    assert sorted(result.project.parameter_table()) == ["enc/W", "enc/b"]
    assert nnc_parameter_table(result.project)["enc/W"] == ("enc/affine/W", (4, 2))
    assert net.total_params == result.project.total_params == 4 * 2 + 2  # counted once
    rows = {row["name"]: row for row in to_json(result.project)["networks"][0]["layers"]}
    assert rows["a"]["params"] == rows["b"]["params"] == 10
    assert to_json(result.project)["networks"][0]["total_params"] == 10


def test_scopes_are_named_in_the_enclosing_unit_instance_and_repeat_copy():
    text = """\
unit Twice {
    in x
    out x -> first: Affine(3, parameter_scope="s") -> Tanh -> second: Affine(3, parameter_scope="s")
}

network N {
    x = Input(3, dataset="x")
    y' = x -> u1: Twice -> u2: Twice -> steps: repeat 2 { step: Affine(3, parameter_scope="r") }
}
"""
    result = _compile(text)
    assert result.ok, [str(d) for d in result.diagnostics]
    # u2 is stamped from u1's expansion: its scope follows its own name
    assert sorted(result.project.parameter_table()) == [
        "steps[0]/r/W", "steps[0]/r/b", "steps[1]/r/W", "steps[1]/r/b", "u1/s/W", "u1/s/b", "u2/s/W", "u2/s/b",
    ]  # fmt: skip
    nnabla = sorted(n for n, _ in nnc_parameter_table(result.project).values())
    # as NNC's create_prototxt names them: the repeat's index on the scope inside it
    assert nnabla == ["r[0]/affine/W", "r[0]/affine/b", "r[1]/affine/W", "r[1]/affine/b",
                      "u1/s/affine/W", "u1/s/affine/b", "u2/s/affine/W", "u2/s/affine/b"]  # fmt: skip


def test_a_scope_shared_with_a_layer_of_another_name_and_across_networks():
    text = SHARED + (
        '\nnetwork Runtime {\n    x = Input(4, dataset="x")\n'
        '    y\' = x -> enc: Affine(2) -> c: Affine(2, parameter_scope="head")\n}\n'
    )
    result = _compile(text)
    assert result.ok, [str(d) for d in result.diagnostics]
    assert sorted(result.project.parameter_table()) == ["enc/W", "enc/b", "head/W", "head/b"]


def test_sharing_layers_of_different_types_is_E0506_at_the_second():
    text = SHARED.replace('b: Affine(2, parameter_scope="enc")', 'b: Convolution(2, kernel=1, parameter_scope="enc")')
    text = text.replace("x -> MulScalar(2.0) -> Tanh -> b", "x -> Reshape(4x1) -> b").replace(
        "Add2(h1, h2)", "Add2(h1, h2 -> Reshape(2))"
    )
    (err,) = _errors(text)
    assert err.code == "E0506"
    assert err.span.line == 5 and "'enc'" in err.message and "Affine" in err.message
    assert err.notes and err.notes[0].span.line == 4


def test_sharing_layers_of_different_shapes_is_E0501_at_the_second():
    text = SHARED.replace("x -> MulScalar(2.0) -> Tanh -> b", "x -> Concatenate(x) -> b")
    (err,) = _errors(text)
    assert err.code == "E0501" and err.span.line == 5 and "enc/W" in err.message
    assert err.notes[0].span.line == 4


@pytest.mark.parametrize(
    ("value", "code"),
    [("3", "E0311"), ('"a.b"', "E0311"), ('"a/b"', "E0311"), ('""', "E0311"), ('"x[0]"', "E0311")],
)
def test_a_parameter_scope_is_a_plain_name(value, code):
    (err,) = _errors(SHARED.replace('parameter_scope="enc")\n    h2', f"parameter_scope={value})\n    h2"))
    assert err.code == code and err.span.line == 4


def test_parameter_scope_given_twice_is_E0303():
    twice = 'a: Affine(2, parameter_scope="enc", parameter_scope="e")'
    (err,) = _errors(SHARED.replace('a: Affine(2, parameter_scope="enc")', twice))
    assert err.code == "E0303"


def _unshared() -> str:
    return SHARED.replace('a: Affine(2, parameter_scope="enc")', 'a: Affine(2, parameter_scope="enc1")').replace(
        'b: Affine(2, parameter_scope="enc")', 'b: Affine(2, parameter_scope="enc2")'
    )


def _arrays(seed: int = 0):
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((4, 2)).astype(np.float32)
    b = rng.standard_normal(2).astype(np.float32)
    x = rng.random((3, 4), dtype=np.float32)
    t = rng.random((3, 2), dtype=np.float32)
    return w, b, x, t


def _model(text: str, backend: str, out, params: dict[str, np.ndarray]):
    from nndsl.backends import keras as keras_backend
    from nndsl.backends import torch as torch_backend

    result = _compile(text)
    assert result.ok, [str(d) for d in result.diagnostics]
    (torch_backend if backend == "torch" else keras_backend).generate(result.project, out)
    module = import_generated(out)
    model = module.create_model()
    np.savez(out / "params.npz", **params)
    model.load_params(out / "params.npz")
    return module, model


def _attribute(obj, path: str):
    """`model.enc.inner.0.r`: attributes, and list elements where a part is an index."""
    for part in path.split("."):
        obj = obj[int(part)] if part.isdigit() else getattr(obj, part)
    return obj


def _gradients(backend: str, module, model, x, t) -> dict[str, np.ndarray]:
    """d(sum of the loss)/d(parameter) by the spec's parameter names, in NNC's layout."""
    if backend == "torch":
        import torch

        model.zero_grad()
        loss = model.run_network("Training", x=torch.from_numpy(x), t=torch.from_numpy(t))["loss"]
        loss.sum().backward()
        named = dict(model.named_parameters())
        return {
            n: module.nnc.to_nnc(named[key].grad, layout, shape).reshape(-1)
            for n, (key, layout, shape, *_) in module.Model.PARAMETERS.items()
        }
    import tensorflow as tf

    with tf.GradientTape() as tape:
        loss = model.networks["Training"]({"x": x, "t": t}, training=True)["loss"]
        total = tf.reduce_sum(loss)
    # Dense keeps NNC's Affine layout (in, out)
    layers = {n: (attr, var) for n, (attr, var, *_) in module.Model.PARAMETERS.items()}
    variables = {n: getattr(_attribute(model, attr), var) for n, (attr, var) in layers.items()}
    grads = tape.gradient(total, list(variables.values()))
    return {n: np.asarray(g).reshape(-1) for n, g in zip(variables, grads, strict=True)}


@pytest.mark.parametrize("backend", ["torch", "keras"])
def test_a_gradient_step_changes_the_shared_weights_once_by_both_uses(backend, tmp_path):
    """The shared model's gradient of enc/W is the sum of the gradients of enc1/W and enc2/W in
    the same model without sharing (same weights in both); one SGD step moves it by that sum."""
    w, b, x, t = _arrays()
    module, shared = _model(SHARED, backend, tmp_path / "shared", {"enc/W": w, "enc/b": b})
    umodule, unshared = _model(_unshared(), backend, tmp_path / "unshared",
                               {"enc1/W": w, "enc1/b": b, "enc2/W": w, "enc2/b": b})  # fmt: skip
    assert sorted(module.Model.PARAMETERS) == ["enc/W", "enc/b"]
    g = _gradients(backend, module, shared, x, t)
    u = _gradients(backend, umodule, unshared, x, t)
    for p in ("W", "b"):
        np.testing.assert_allclose(g[f"enc/{p}"], u[f"enc1/{p}"] + u[f"enc2/{p}"], rtol=1e-5, atol=1e-6)
    assert np.abs(u["enc1/W"] - u["enc2/W"]).max() > 1e-3  # the two uses' gradients differ
    if backend != "torch":
        return
    import torch

    lr = 0.1
    params = list(shared.parameters())
    assert len(params) == 2  # one module for both layers
    optimizer = torch.optim.SGD(params, lr=lr)
    shared.zero_grad()
    shared.run_network("Training", x=torch.from_numpy(x), t=torch.from_numpy(t))["loss"].sum().backward()
    optimizer.step()
    shared.save_params(tmp_path / "after.npz")
    with np.load(tmp_path / "after.npz", allow_pickle=False) as after:
        np.testing.assert_allclose(after["enc/W"].reshape(-1), w.reshape(-1) - lr * g["enc/W"], rtol=1e-5, atol=1e-6)


UNIT_CALLS = """\
unit Block {
    in x
    out x -> fc: Affine(3) -> Tanh -> inner: repeat 2 { r: Affine(3) }
}

network Training {
    x = Input(3, dataset="x")
    t = Input(3, dataset="y")
    h1 = x -> u1: Block(parameter_scope="enc")
    h2 = x -> MulScalar(2.0) -> u2: Block(parameter_scope="enc")
    loss = Add2(h1, h2) -> u3: Block -> SquaredError(t)
}
"""


def test_unit_calls_of_one_scope_share_every_parameter_of_the_unit():
    result = _compile(UNIT_CALLS)
    assert result.ok, [str(d) for d in result.diagnostics]
    names = sorted(result.project.parameter_table())
    assert names == sorted(
        f"{s}/{p}/{q}" for s in ("enc", "u3") for p in ("fc", "inner[0]/r", "inner[1]/r") for q in ("W", "b")
    )
    layers = [layer.name for layer in result.project.networks[0].layers]
    assert "u1.fc" in layers and "u2.fc" in layers  # the instances keep their names
    nnabla = {n for n, _ in nnc_parameter_table(result.project).values()}
    assert {"enc/fc/affine/W", "enc/r[1]/affine/W", "u3/r[0]/affine/b"} <= nnabla
    assert result.project.total_params == 2 * 3 * (3 * 3 + 3)


def test_unit_call_scope_errors():
    bad_param = UNIT_CALLS.replace("unit Block {", "unit Block(parameter_scope: int = 1) {")
    (err,) = _errors(bad_param)
    assert err.code == "E0214" and err.span.line == 1
    (err,) = _errors(UNIT_CALLS.replace('u1: Block(parameter_scope="enc")', '_: Block(parameter_scope="enc")'))
    assert err.code == "E0215" and err.span.line == 9
    # instances sharing must agree in shapes: Block on a wider input has a wider fc/W
    wider = UNIT_CALLS.replace("h2 = x -> MulScalar(2.0) ->", "h2 = Concatenate(x, x) ->").replace(
        "Add2(h1, h2)", "Add2(h1, h2)"
    )
    errors = _errors(wider)
    assert errors and errors[0].code == "E0501" and errors[0].span.line == 3 and "enc/fc/W" in errors[0].message


@pytest.mark.parametrize("backend", ["torch", "keras"])
def test_unit_calls_of_one_scope_are_one_module(backend, tmp_path):
    """Both backends build one block for u1 and u2 (called twice) and one for u3: the gradient of
    a shared weight is the sum of the two calls' gradients (u1 and u2 made apart to compare)."""
    rng = np.random.default_rng(1)
    arrays = {}
    for s in ("enc", "u3"):
        for p, shape in (("fc", (3, 3)), ("inner[0]/r", (3, 3)), ("inner[1]/r", (3, 3))):
            arrays[f"{s}/{p}/W"] = rng.standard_normal(shape).astype(np.float32)
            arrays[f"{s}/{p}/b"] = rng.standard_normal(3).astype(np.float32)
    apart = UNIT_CALLS.replace('u1: Block(parameter_scope="enc")', 'u1: Block(parameter_scope="e1")').replace(
        'u2: Block(parameter_scope="enc")', 'u2: Block(parameter_scope="e2")'
    )
    split = {k.replace("enc/", f"{e}/"): v for k, v in arrays.items() for e in ("e1", "e2") if k.startswith("enc/")}
    split.update({k: v for k, v in arrays.items() if k.startswith("u3/")})
    module, shared = _model(UNIT_CALLS, backend, tmp_path / "shared", arrays)
    umodule, unshared = _model(apart, backend, tmp_path / "apart", split)
    assert sorted(module.Model.PARAMETERS) == sorted(arrays)
    x = rng.random((2, 3), dtype=np.float32)
    t = rng.random((2, 3), dtype=np.float32)
    g = _gradients(backend, module, shared, x, t)
    u = _gradients(backend, umodule, unshared, x, t)
    for name in arrays:
        apart_names = [name.replace("enc/", f"{e}/") for e in ("e1", "e2")] if name.startswith("enc/") else [name]
        want = sum(u[n] for n in apart_names)
        np.testing.assert_allclose(g[name], want, rtol=1e-4, atol=1e-5)
