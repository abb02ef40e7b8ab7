"""The language's capabilities, each shown on a small spec compiled to IR."""

import textwrap

import pytest

from nndsl.compiler import compile_file


def build(src: str, path: str = "t.nnd", **kw):
    r = compile_file(path, text=textwrap.dedent(src), **kw)
    errors = [d for d in r.diagnostics if d.severity == "error"]
    assert not errors, [f"{d.code} {d.message}" for d in errors]
    return r.project


def errors_of(src: str, **kw) -> list[str]:
    r = compile_file("t.nnd", text=textwrap.dedent(src), **kw)
    return [d.code for d in r.diagnostics if d.severity == "error"]


def shapes(net):
    return {layer.name: net.values[layer.outputs[0]].shape for layer in net.layers}


def test_chain_named_values_branch_and_merge():
    p = build(
        """
        network N {
            x = Input(3x8x8, dataset="x")
            a = x -> Convolution(4, kernel=3x3, pad=1x1)
            b = x -> Convolution(4, kernel=1x1)
            m = Add2(a, b) -> ReLU
            c = Concatenate(a, b, m, axis=0)
        }
        """
    )
    net = p.network("N")
    s = shapes(net)
    assert s["Add2"] == (4, 8, 8)
    assert s["Concatenate"] == (12, 8, 8)
    assert [net.values[o].name for o in net.outputs] == ["c"]


def test_repeat_copies_have_independent_parameters_and_indexed_names():
    p = build(
        """
        network N {
            x = Input(16, dataset="x")
            y = x -> dense: repeat i in 3 { fc: Affine(8 * (i + 1)) -> ReLU }
        }
        """
    )
    net = p.network("N")
    fcs = [layer for layer in net.layers if layer.type == "Affine"]
    assert [layer.name for layer in fcs] == ["dense[0].fc", "dense[1].fc", "dense[2].fc"]
    assert [net.values[layer.outputs[0]].shape for layer in fcs] == [(8,), (16,), (24,)]
    names = set(net.parameter_table())
    assert {"dense/0/fc/W", "dense/1/fc/W", "dense/2/fc/W"} <= {n.replace("[", "/").replace("]", "") for n in names}


def test_nested_repeats_and_unit_in_repeat_names_the_copy():
    p = build(
        """
        unit Block(maps: int) {
            in x
            out x -> conv1: Convolution(maps, kernel=3x3, pad=1x1) -> ReLU
        }
        unit Stage(maps: int) {
            in x
            out x -> block: repeat 3 { Block(maps) }
        }
        network N {
            x = Input(4x8x8, dataset="x")
            y = x -> stage3: Stage(4) -> outer: repeat 2 { repeat 2 { ReLU } }
        }
        """
    )
    names = [layer.name for layer in p.network("N").layers]
    assert "stage3.block[2].conv1" in names
    assert "outer[1].repeat[1].ReLU" in names


def test_repeat_block_form_with_residual():
    p = build(
        """
        network N {
            x = Input(4x8x8, dataset="x")
            y = x -> res: repeat 2 {
                in t
                u = t -> conv: Convolution(4, kernel=3x3, pad=1x1) -> ReLU
                out Add2(t, u)
            }
        }
        """
    )
    net = p.network("N")
    assert [layer.name for layer in net.layers if layer.type == "Add2"] == ["res[0].Add2", "res[1].Add2"]


def test_repeat_zero_passes_through():
    p = build(
        """
        network N {
            x = Input(4, dataset="x")
            y = x -> repeat 0 { Affine(3) } -> Affine(2)
        }
        """
    )
    assert [layer.type for layer in p.network("N").layers] == ["Input", "Affine"]


def test_units_typed_arguments_defaults_conditionals_and_several_outputs():
    p = build(
        """
        unit Head(classes: int, width: int = classes * 2, norm: bool = false) {
            in x
            h = x -> fc1: Affine(width)
            if norm {
                h = h -> bn: BatchNormalization
            } else if width > 100 {
                h = h -> Dropout(p=0.5)
            } else {
                h = h -> ReLU
            }
            out h -> fc2: Affine(classes), h
        }
        network N {
            x = Input(8, dataset="x")
            a, b = Head(x, 3)
            c, d = Head(x, 5, norm=true)
        }
        """
    )
    net = p.network("N")
    s = shapes(net)
    assert s["Head.fc1"] == (6,) and s["Head.fc2"] == (3,) and "Head.ReLU" in s
    assert s["Head_2.fc1"] == (10,) and "Head_2.bn" in s
    assert sorted(net.values[o].name for o in net.outputs) == ["a", "b", "c", "d"]


def test_unit_with_several_inputs_and_shape_argument():
    p = build(
        """
        unit Join(size: shape) {
            in a, b
            out Add2(a, b) -> Reshape(size)
        }
        network N {
            x = Input(2x3, dataset="x")
            y = x -> Join(x, [3, 2])
        }
        """
    )
    assert shapes(p.network("N"))["Join.Reshape"] == (3, 2)


def test_networks_share_parameters_by_name_and_totals_count_them_once():
    p = build(
        """
        unit Body {
            in x
            out x -> fc: Affine(10)
        }
        network Training {
            x = Input(4, dataset="x")
            y = Input(1, dataset="y")
            loss = x -> body: Body -> SoftmaxCrossEntropy(y)
        }
        network Validation {
            x = Input(4, dataset="x")
            y = Input(1, dataset="y")
            error = x -> body: Body -> TopNError(y)
        }
        """
    )
    assert p.network("Training").total_params == 50
    assert p.network("Validation").total_params == 50
    assert p.total_params == 50
    assert set(p.parameter_table()) == {"body/fc/W", "body/fc/b"}


def test_batch_statistics_follow_the_training_role():
    p = build(
        """
        network Training {
            x = Input(2x4x4, dataset="x")
            y = Input(1, dataset="y")
            loss = x -> bn: BatchNormalization -> Affine(3) -> SoftmaxCrossEntropy(y)
        }
        network Validation {
            x = Input(2x4x4, dataset="x")
            y = Input(1, dataset="y")
            error = x -> bn: BatchNormalization -> Affine(3) -> TopNError(y)
        }
        """
    )
    bn = {n.name: next(layer for layer in n.layers if layer.name == "bn") for n in p.networks}
    assert bn["Training"].params["batch_stat"] is True
    assert bn["Validation"].params["batch_stat"] is False


def test_derived_network_overrides_and_shares():
    p = build(
        """
        network Validation {
            x = Input(10, dataset="x")
            y = Input(1, dataset="y")
            error = x -> Affine(10) -> TopNError(y, n=1)
        }
        network Validation5 = Validation with { TopNError.n = 5 }
        """
    )
    top = {n.name: next(layer for layer in n.layers if layer.type == "TopNError") for n in p.networks}
    assert top["Validation"].params["n"] == 1
    assert top["Validation5"].params["n"] == 5
    assert p.total_params == p.network("Validation").total_params


def test_roles_default_to_nnc_network_names():
    p = build(
        """
        network Training {
            x = Input(4, dataset="x")
            y = Input(1, dataset="y")
            loss = x -> Affine(3) -> SoftmaxCrossEntropy(y)
        }
        network Validation {
            x = Input(4, dataset="x")
            y = Input(1, dataset="y")
            error = x -> Affine(3) -> TopNError(y)
        }
        network Runtime {
            x = Input(4, dataset="x")
            p = x -> Affine(3) -> Softmax
        }
        dataset training = "train.csv"
        dataset validation = "validation.csv"
        """
    )
    cfg = p.config
    assert cfg.defaulted
    assert [(o.network, o.dataset) for o in cfg.optimizers] == [("Training", "training")]
    assert [(m.name, m.network, m.dataset) for m in cfg.monitors] == [("valid_error", "Validation", "validation")]
    assert [(e.network, e.num_evaluations) for e in cfg.executors] == [("Runtime", 1)]


def test_config_solvers_schedules_durations_and_roles():
    p = build(
        """
        network Main {
            x = Input(4, dataset="x")
            y = Input(1, dataset="y")
            loss = x -> Affine(3) -> SoftmaxCrossEntropy(y)
        }
        network Check {
            x = Input(4, dataset="x")
            y = Input(1, dataset="y")
            error = x -> Affine(3) -> TopNError(y)
        }
        dataset train = "a.csv" { shuffle = false }
        config {
            epochs = 7
            batch_size = 32
            optimizer main {
                network = Main, dataset = train
                solver = Momentum(learning_rate=0.05, weight_decay=1e-4)
                schedule = Step(multiplier=0.5, steps=[2 epochs, 500 iterations], warmup=100)
                update_interval = 2
            }
            monitor check { network = Check, dataset = train }
            executor { network = Check, num_evaluations = 4, evaluation = std }
        }
        """
    )
    cfg = p.config
    assert (cfg.max_epoch, cfg.batch_size, cfg.defaulted) == (7, 32, False)
    (o,) = cfg.optimizers
    assert (o.name, o.network, o.dataset, o.update_interval) == ("main", "Main", "train", 2)
    assert o.solver.type == "Momentum" and o.solver.params == {"lr": 0.05, "momentum": 0.9, "weight_decay": 1e-4}
    assert o.schedule.type == "Step"
    assert o.schedule.params == {"multiplier": 0.5, "steps": ((2, "epoch"), (500, "iteration"))}
    assert o.schedule.warmup == (100, "iteration")
    assert cfg.executors[0].evaluation == "std"
    assert p.datasets[0].settings["shuffle"] is False


def test_include_brings_units_from_another_file(tmp_path):
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "blocks.nnd").write_text("unit Twice {\n    in x\n    out x -> ReLU -> ReLU\n}\n")
    spec = tmp_path / "main.nnd"
    spec.write_text('include "lib/blocks.nnd"\n\nnetwork N {\n    x = Input(3, dataset="x")\n    y = x -> Twice\n}\n')
    r = compile_file(spec)
    assert r.ok
    assert [layer.name for layer in r.project.network("N").layers] == ["Input", "Twice.ReLU", "Twice.ReLU_2"]


def test_shape_literals_lists_and_scalar_kernel():
    p = build(
        """
        unit Pool(k: int) {
            in x
            out x -> MaxPooling(kernel=k)
        }
        network N {
            x = Input([3, 2 * 8, 16], dataset="x")
            y = x -> Pool(4) -> Convolution(2, kernel=3, border_mode="valid")
        }
        """
    )
    s = shapes(p.network("N"))
    assert s["Pool.MaxPooling"] == (3, 4, 4)
    assert s["Convolution"] == (2, 2, 2)


def test_expressions_arithmetic_and_logic():
    p = build(
        """
        unit U(a: int, b: float, flag: bool) {
            in x
            if (a // 2 == 3 and not flag) or b > 10.0 {
                out x -> Affine(a % 4 + 1)
            } else {
                out x -> Affine(-a + 20)
            }
        }
        network N {
            x = Input(2, dataset="x")
            y = x -> U(7, 0.5, false)
            z = x -> U(3, 0.5, true)
        }
        """
    )
    s = shapes(p.network("N"))
    assert s["U.Affine"] == (4,)
    assert s["U_2.Affine"] == (17,)


def test_primes_in_names():
    p = build(
        """
        network Runtime {
            x = Input(4, dataset="x")
            y' = x -> Affine(2) -> Softmax
        }
        """
    )
    net = p.network("Runtime")
    assert [net.values[o].name for o in net.outputs] == ["y'"]


@pytest.mark.parametrize(
    ("src", "code"),
    [
        ('network N {\n x = Input(4, dataset="x")\n y = x -> repeat -1 { ReLU }\n}\n', "E0703"),
        ('network N {\n x = Input(4, dataset="x")\n y = x -> repeat 2000 { ReLU }\n}\n', "E0701"),
    ],
    ids=["negative-repeat", "layer-limit"],
)
def test_limits(src, code):
    assert errors_of(src, max_layers=1000) == [code]


def test_layer_limit_is_overridable():
    src = 'network N {\n x = Input(4, dataset="x")\n y = x -> repeat 2000 { ReLU }\n}\n'
    assert errors_of(src, max_layers=5000) == []


def test_every_problem_of_a_file_in_one_run():
    codes = errors_of(
        """
        network A {
            x = Input(3x8x8, dataset="x")
            y = x -> Convolutoin(4)
            z = x -> Convolution(4, kernal=3)
            w = Add2(x -> MaxPooling(kernel=2x2), x)
        }
        config {
            optimizer { network = B }
        }
        """
    )
    assert sorted(codes) == ["E0201", "E0204", "E0301", "E0402"]
