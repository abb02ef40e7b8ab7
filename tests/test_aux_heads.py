"""Weighted loss objectives and auxiliary heads (issue 12: GoogLeNet's training).

The spec is tests/nnc/export_specs/aux_heads.nnd: a trunk unit with two auxiliary classifiers;
Training minimises main + 0.3 * aux1 + 0.3 * aux2, Validation and Runtime use the main output
only. Its NNC export (NNC's verdict, nnabla's parameters and outputs) is checked with the other
export specs in tests/nnc/test_export.py and tests/nnc/test_export_nnabla.py.
"""

from __future__ import annotations

import csv
import json
import math
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from nndsl.backends.project_config import project_config
from nndsl.compiler import compile_file

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "tests" / "nnc" / "export_specs" / "aux_heads.nnd"
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "TF_CPP_MIN_LOG_LEVEL": "3"}
HEADS = ("net.aux1.fc", "net.aux2.fc")


def _compile(text: str, lint: bool = False):
    return compile_file("t.nnd", text=textwrap.dedent(text), lint=lint)


def _errors(result) -> list[str]:
    return [d.code for d in result.diagnostics if d.severity == "error"]


TRUNK = """
unit Head {
    in x
    out x -> fc: Affine(3)
}
unit Trunk {
    in x
    h = x -> c: Affine(6) -> ReLU
    a = h -> aux: Head
    out h -> fc: Affine(3), a
}
"""


# --- the objective --------------------------------------------------------------------------


def test_a_weighted_sum_of_losses_is_the_training_objective():
    r = compile_file(SPEC)
    assert r.ok, [d.message for d in r.diagnostics]
    net = r.project.network("Training")
    assert [net.values[v].name for v in net.outputs] == ["loss"]
    # main + 0.3 * aux1 + 0.3 * aux2: NNC's MulScalar and Add2, so that the export holds it as it is
    types = [layer.type for layer in net.layers[-7:]]
    assert types.count("MulScalar") == 2 and types.count("Add2") == 2
    assert [layer.params["value"] for layer in net.layers if layer.type == "MulScalar"] == [0.3, 0.3]
    # train.py minimises the sum of the outputs of kind "loss"
    config = project_config(r.project, SPEC.parent)
    assert config["networks"]["Training"]["outputs"] == [{"name": "loss", "shape": [1], "kind": "loss"}]


@pytest.mark.parametrize(
    "objective",
    [
        "main + 0.3 * SoftmaxCrossEntropy(a, y)",  # logits plus a loss
        "SoftmaxCrossEntropy(main, y) * SoftmaxCrossEntropy(a, y)",  # a product of losses
        "SoftmaxCrossEntropy(main, y) + 1",  # a constant added: AddScalar
    ],
)
def test_anything_else_is_no_loss_and_is_refused_with_a_help_line(objective):
    r = _compile(
        TRUNK
        + f"""
        network Training {{
            x = Input(4, dataset="x")
            y = Input(1, dataset="y")
            main, a = net: Trunk(x)
            loss = {objective}
        }}
        config {{ optimizer {{ network = Training }} }}
        """
    )
    (d,) = [d for d in r.diagnostics if d.severity == "error"]
    assert d.code == "E0605" and "sum of losses times constants" in d.help


def test_arithmetic_on_tensors_is_nncs_arithmetic_layers():
    r = _compile(
        """
        network N {
            x = Input(4, dataset="x")
            a = x - 1
            b = 2 - x
            c = x / 4
            d = 1 / x
            e = x * x + x
            f = 1 + 2 + x
            g = x * (2 * 3)
        }
        """
    )
    assert not _errors(r), [d.message for d in r.diagnostics]
    net = r.project.network("N")
    by_output = {net.values[v].name: net.layers[net.values[v].producer] for v in net.outputs}
    got = {n: (layer.type, layer.params.get("value")) for n, layer in by_output.items()}
    assert got == {
        "a": ("AddScalar", -1),
        "b": ("RSubScalar", 2),
        "c": ("MulScalar", 0.25),
        "d": ("RDivScalar", 1),
        "e": ("Add2", None),
        "f": ("AddScalar", 3),
        "g": ("MulScalar", 6),
    }
    assert net.layers[by_output["e"].inputs[0]].type == "Mul2"


def test_arithmetic_with_a_string_or_division_by_zero_is_a_positioned_error():
    r = _compile('network N {\n    x = Input(4, dataset="x")\n    a = x + "s"\n    b = x / 0\n}\n')
    errors = [(d.code, d.span.line) for d in r.diagnostics if d.severity == "error"]
    assert errors == [("E0311", 3), ("E0311", 4)]


# --- heads other networks leave out --------------------------------------------------------


def test_networks_leave_out_the_heads_they_do_not_use_and_share_the_rest():
    r = compile_file(SPEC, lint=True)
    assert r.ok and not r.diagnostics, [d.message for d in r.diagnostics]
    nets = {n.name: n for n in r.project.networks}
    names = {n: {layer.name for layer in net.layers} for n, net in nets.items()}
    assert set(HEADS) <= names["Training"]
    for n in ("Validation", "Runtime"):
        assert not any(h.startswith(("net.aux1", "net.aux2")) for h in names[n])
        assert {"net.c1", "net.c2", "net.fc"} <= names[n]
        assert [nets[n].values[v].name for v in nets[n].outputs] == [{"Validation": "error", "Runtime": "y'"}[n]]


def test_summary_counts_the_aux_parameters_once():
    r = compile_file(SPEC)
    unique: dict[str, int] = {}
    per_net = {}
    for net in r.project.networks:
        per_net[net.name] = sum(layer.param_count for layer in net.layers)
        for layer in net.layers:
            for p in layer.parameters:
                unique[layer.parameter_name(p)] = math.prod(p.shape)
    out = subprocess.run(
        [sys.executable, "-m", "nndsl", "summary", str(SPEC)], capture_output=True, text=True, env=ENV, check=True
    ).stdout
    total = int(out.strip().splitlines()[-1].split()[1].replace(",", ""))
    heads = sum(v for k, v in unique.items() if k.startswith(("net/aux1", "net/aux2")))
    assert total == sum(unique.values()) == per_net["Training"]
    assert per_net["Validation"] == per_net["Runtime"] == total - heads and heads > 0


def test_an_unused_output_of_a_partly_used_unit_call_is_no_output_and_lint_says_so():
    r = _compile(
        TRUNK
        + """
        network Runtime {
            x = Input(4, dataset="x")
            main, a = net: Trunk(x)
            y' = main -> Softmax
        }
        """,
        lint=True,
    )
    net = r.project.network("Runtime")
    assert [net.values[v].name for v in net.outputs] == ["y'"]
    assert not any(layer.name.startswith("net.aux") for layer in net.layers)
    (w,) = [d for d in r.diagnostics if d.severity == "warning"]
    assert w.code == "W112" and (w.span.line, w.span.col) == (15, 19) and "'_'" in w.help
    # `_` leaves it out without a word; a call whose outputs nothing uses gives the outputs (NNC's rule)
    quiet = _compile(
        TRUNK + 'network Runtime {\n x = Input(4, dataset="x")\n m, _ = net: Trunk(x)\n y = m -> Softmax\n}\n',
        lint=True,
    )
    assert not quiet.diagnostics
    whole = _compile(TRUNK + 'network R {\n x = Input(4, dataset="x")\n m, a = net: Trunk(x)\n}\n', lint=True)
    assert [whole.project.network("R").values[v].name for v in whole.project.network("R").outputs] == ["m", "a"]


def test_a_block_no_network_has_all_of_is_refused_at_generation(tmp_path):
    from nndsl.backends.torch import generate

    r = _compile(
        TRUNK
        + """
        network A {
            x = Input(4, dataset="x")
            main, _ = net: Trunk(x)
            y' = main -> Softmax
        }
        network B {
            x = Input(4, dataset="x")
            _, a = net: Trunk(x)
            y' = a -> Softmax
        }
        """
    )
    assert r.ok
    with pytest.raises(Exception) as e:
        generate(r.project, tmp_path)
    assert "no network's has all the layers" in str(e.value)


# --- the generated projects -------------------------------------------------------------------


def _data(n: int = 6, classes: int = 10):
    rng = np.random.default_rng(0)
    return rng.normal(size=(n, 1, 8, 8)).astype(np.float32), rng.integers(0, classes, size=(n, 1)).astype(np.float32)


def _ce(logits: np.ndarray, y: np.ndarray) -> float:
    """Mean softmax cross-entropy, in float64."""
    z = logits.astype(np.float64)
    z = z - z.max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return float(-logp[np.arange(len(y)), y[:, 0].astype(int)].mean())


def _hand_objective(heads: list[np.ndarray], runtime_probs: np.ndarray, y: np.ndarray) -> float:
    """main + 0.3 * each aux, the main output found as the one whose softmax is Runtime's y'."""
    probs = [
        np.exp(h - h.max(1, keepdims=True)) / np.exp(h - h.max(1, keepdims=True)).sum(1, keepdims=True) for h in heads
    ]
    main = [k for k, p in enumerate(probs) if np.allclose(p, runtime_probs, atol=1e-5)]
    assert len(main) == 1
    return sum((1.0 if k == main[0] else 0.3) * _ce(h, y) for k, h in enumerate(heads))


def test_torch_objective_heads_in_training_only_and_shared_parameters(tmp_path):
    torch = pytest.importorskip("torch")
    from conftest import import_generated

    from nndsl.backends.torch import generate

    generate(compile_file(SPEC).project, tmp_path)
    mod = import_generated(tmp_path)
    train = import_generated(tmp_path, "train")
    config = json.loads((tmp_path / "config.json").read_text())
    torch.manual_seed(0)
    model = mod.create_model()
    calls = {"aux1": 0, "aux2": 0}
    for name in calls:
        getattr(model.net, name).register_forward_hook(lambda *_, n=name: calls.__setitem__(n, calls[n] + 1))
    x, y = _data()
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    before = {k: v.detach().clone() for k, v in model.state_dict().items()}
    for _ in range(2):  # two training steps on the network's objective, as train.py takes it
        loss = train.network_loss(model.run_network("Training", x=xt, y=yt), config["networks"]["Training"])
        with torch.no_grad():
            heads = [h.numpy() for h in model.net(xt)]  # the unit's three outputs, in training mode
            probs = model.run_network("Runtime", x=xt)["y'"].numpy()
        assert calls == {"aux1": 2, "aux2": 2}  # Training and the hand check's call; Runtime: none
        assert abs(loss.item() - _hand_objective(heads, probs, y)) < 1e-5
        opt.zero_grad()
        loss.backward()
        opt.step()
        calls.update(aux1=0, aux2=0)
    after = model.state_dict()
    changed = {k for k in after if not torch.equal(after[k], before[k])}
    assert {"net.aux1.fc.weight", "net.aux2.fc.weight", "net.c1.weight", "net.fc.weight"} <= changed
    # one set of parameters: Validation runs the trained trunk without calling the heads
    assert sum("aux1" in k for k in after) == 2
    error = model.run_network("Validation", x=xt, y=yt)["error"]
    assert calls == {"aux1": 0, "aux2": 0} and error.shape == (6, 1)


def test_torch_training_objective_runs_in_eval_mode_too(tmp_path):
    """The heads follow the network, not the module's mode: Training's objective evaluated with
    running statistics (`outputs` in eval mode) computes them, Validation's call leaves them out."""
    torch = pytest.importorskip("torch")
    from conftest import import_generated

    from nndsl.backends.torch import generate

    generate(compile_file(SPEC).project, tmp_path)
    mod = import_generated(tmp_path)
    train = import_generated(tmp_path, "train")
    config = json.loads((tmp_path / "config.json").read_text())
    torch.manual_seed(0)
    model = mod.create_model().eval()
    x, y = _data()
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    with torch.no_grad():
        loss = train.network_loss(model.outputs("Training", x=xt, y=yt), config["networks"]["Training"])
        heads = [h.numpy() for h in model.net(xt)]  # heads=True by default, in eval mode too
        probs = model.outputs("Runtime", x=xt)["y'"].numpy()
        assert all(h is None for h in model.net(xt, heads=False)[:2])
    assert abs(loss.item() - _hand_objective(heads, probs, y)) < 1e-5


def test_keras_objective_heads_in_training_only_and_shared_parameters(tmp_path):
    pytest.importorskip("keras")
    tf = pytest.importorskip("tensorflow")
    import keras
    from conftest import import_generated

    from nndsl.backends.keras import generate

    generate(compile_file(SPEC).project, tmp_path)
    mod = import_generated(tmp_path)
    train = import_generated(tmp_path, "train")
    config = json.loads((tmp_path / "config.json").read_text())
    keras.utils.set_random_seed(0)
    model = mod.create_model()
    # every network is a functional model of the layers its outputs need: the heads only in Training's
    layers_of = {n: {layer.name for layer in m.layers} for n, m in model.networks.items()}
    assert set(HEADS) <= layers_of["Training"]
    assert not set(HEADS) & (layers_of["Validation"] | layers_of["Runtime"])
    shared = {n: {id(w) for layer in m.layers for w in layer.weights} for n, m in model.networks.items()}
    assert shared["Validation"] == shared["Runtime"] < shared["Training"]
    x, y = _data()
    feed = {"x": tf.constant(np.moveaxis(x, 1, -1)), "y": tf.constant(y)}
    training = model.networks["Training"]
    opt = keras.optimizers.SGD(learning_rate=0.1)
    before = {w.path: np.array(w.numpy()) for w in training.trainable_weights}
    for _ in range(2):  # two training steps on the objective, as train.py takes it
        with tf.GradientTape() as tape:
            loss = train.network_loss(training(feed, training=True), config["networks"]["Training"])
        heads = [np.asarray(h) for h in model.net(feed["x"])]
        probs = model.run_network("Runtime", x=x)["y'"]
        assert abs(float(loss) - _hand_objective(heads, probs, y)) < 1e-5
        grads = tape.gradient(loss, training.trainable_weights)
        opt.apply_gradients(zip(grads, training.trainable_weights, strict=True))
    changed = {w.path for w in training.trainable_weights if not np.array_equal(w.numpy(), before[w.path])}
    assert len(changed) == len(before) == 10  # the trunk's and both heads' kernels and biases
    # the trained trunk is Runtime's: the main output's softmax is its y'
    heads = [np.asarray(h) for h in model.net(feed["x"])]
    probs = model.run_network("Runtime", x=x)["y'"]
    assert sum(np.allclose(np.exp(h) / np.exp(h).sum(1, keepdims=True), probs, atol=1e-5) for h in heads) == 1


def test_torch_train_py_trains_two_steps_on_the_objective(tmp_path):
    """train.py end to end (the Keras one takes the objective through the same config entry,
    `network_loss`, which the test above checks)."""
    pytest.importorskip("torch")
    pytest.importorskip("sklearn")
    from nndsl.backends.torch import generate
    from nndsl.examples.digits import build_digits_dataset

    folder = tmp_path / "spec"
    build_digits_dataset(folder / "digits")  # 1,437 training rows: 2 iterations of 700
    spec = folder / SPEC.name
    spec.write_text(SPEC.read_text(encoding="utf-8"), encoding="utf-8")
    out = tmp_path / "project"
    generate(compile_file(spec).project, out)
    runs = tmp_path / "runs"
    done = subprocess.run(
        [sys.executable, "train.py", "--seed", "0", "--output", str(runs), "--device", "cpu"],
        cwd=out, env=ENV, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    (log,) = runs.glob("*/log.csv")
    rows = list(csv.DictReader(log.open(encoding="utf-8")))
    assert len(rows) == 1
    losses = [float(v) for k, v in rows[0].items() if k.endswith("_loss")]
    errors = [float(v) for k, v in rows[0].items() if k == "valid_error"]
    # ten classes at the start: the objective is about 1.6 * ln 10 (main + 0.3 + 0.3), the error below 1
    assert len(losses) == 1 and 0.5 * 1.6 * math.log(10) < losses[0] < 2 * 1.6 * math.log(10)
    assert len(errors) == 1 and 0 <= errors[0] <= 1
