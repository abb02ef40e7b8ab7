"""The help a PyTorch or Keras user gets where nndsl differs: NNC's names for the frameworks' layers,
solvers and schedules (nndsl/layers/foreign.py), syntax helps for a chain line without its '->' and
for tuples, and the checks only `lint --strict` runs (W113 NNC defaults, W114 missing dataset CSVs)."""

import json

import pytest

from nndsl.cli import main
from nndsl.compiler import compile_file
from nndsl.layers import REGISTRY, foreign
from nndsl.solvers import SCHEDULES, SOLVERS

NETWORK = """network Main {{
    x = Input(3x32x32, dataset="x")
    y = Input(1, dataset="y")
    {body}
}}
"""
TRAINING = """network Training {{
    x = Input(3x32x32, dataset="x")
    y = Input(1, dataset="y")
    loss = x -> Affine(10) -> SoftmaxCrossEntropy(y)
}}
network Validation {{
    x = Input(3x32x32, dataset="x")
    y = Input(1, dataset="y")
    error = x -> Affine(10) -> TopNError(y)
}}
config {{
    optimizer {{ network = Training, solver = {solver}, schedule = {schedule} }}
    monitor valid_error {{ network = Validation }}
}}
"""


def diagnostics(text, tmp_path, **kw):
    return compile_file(tmp_path / "net.nnd", text=text, **kw).diagnostics


def only(diags, code):
    found = [d for d in diags if d.code == code]
    assert len(found) == 1, [(d.code, d.message) for d in diags]
    return found[0]


def at(d):
    return (d.span.line, d.span.col, d.span.end_line, d.span.end_col)


# --- the tables ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("table", "known"),
    [(foreign.LAYERS, REGISTRY), (foreign.SOLVERS, SOLVERS), (foreign.SCHEDULES, SCHEDULES)],
    ids=["layers", "solvers", "schedules"],
)
def test_every_target_exists_and_no_foreign_name_is_one_of_nndsls(table, known):
    for entry in table:
        assert entry.target in known, entry
        for _, target, _ in entry.keywords:
            assert target in known, entry
        for name in entry.names:
            assert name not in known, f"{name} is nndsl's own name: its help would never be shown"


def test_the_names_a_pytorch_or_keras_user_writes_are_covered():
    want = {
        "layer": {
            "Conv2d": "Convolution",
            "Conv2D": "Convolution",
            "Linear": "Affine",
            "Dense": "Affine",
            "BatchNorm2d": "BatchNormalization",
            "MaxPool2d": "MaxPooling",
            "MaxPooling2D": "MaxPooling",
            "AvgPool2d": "AveragePooling",
            "AdaptiveAvgPool2d": "AdaptiveAveragePooling",
            "GlobalAveragePooling2D": "GlobalAveragePooling",
            "CrossEntropyLoss": "SoftmaxCrossEntropy",
            "SparseCategoricalCrossentropy": "SoftmaxCrossEntropy",
            "BCEWithLogitsLoss": "SigmoidCrossEntropy",
            "MSELoss": "SquaredError",
            "Flatten": "Reshape",
            "Embedding": "Embed",
            "LayerNorm": "LayerNormalization",
            "SiLU": "Swish",
            "Dropout2d": "Dropout",
            "Add": "Add2",
            "cat": "Concatenate",
            "ConvTranspose2d": "Deconvolution",
        },
        "solver": {"SGD": "Sgd", "RMSProp": "RMSprop"},
        "schedule": {
            "StepLR": "Exponential",
            "MultiStepLR": "Step",
            "CosineAnnealingLR": "Cosine",
            "ReduceLROnPlateau": "Plateau",
            "ExponentialDecay": "Exponential",
        },
    }
    for kind, names in want.items():
        for name, target in names.items():
            assert foreign.foreign_help(name, kind) == _expected_help(name, kind, target), name


def _expected_help(name, kind, target):
    table = {"layer": foreign.LAYERS, "solver": foreign.SOLVERS, "schedule": foreign.SCHEDULES}[kind]
    entry = next(e for e in table if name in e.names)
    assert entry.target == target
    return f"NNC's name for {name} is {target}" + (f": {entry.note}" if entry.note else "")


def test_the_notes_state_nnc_defaults_the_registry_has():
    # The notes quote NNC's defaults: they are the registry's (read from NNC's own table).
    assert REGISTRY["BatchNormalization"].param("epsilon").default == 1e-4
    assert REGISTRY["BatchNormalization"].param("decay_rate").default == 0.9
    assert REGISTRY["Convolution"].param("border_mode").default == "same"
    assert REGISTRY["DepthwiseConvolution"].param("border_mode").default == "valid"
    assert REGISTRY["LeakyReLU"].param("alpha").default == 0.1
    assert REGISTRY["MaxPooling"].param("kernel").default == (2, 2)
    help_ = foreign.foreign_help("BatchNorm2d", "layer")
    assert "epsilon is 1e-4" in help_ and "decay_rate 0.9 is PyTorch's momentum=0.1" in help_
    assert "flattens its input by itself" in foreign.foreign_help("Linear", "layer")
    assert "border_mode=same" in foreign.foreign_help("Conv2d", "layer")


LAYER_EXAMPLES = [
    "MaxPooling(kernel=2x2)",
    "AveragePooling(kernel=2x2)",
    "DepthwiseConvolution(kernel=3x3, multiplier=1)",
    "AdaptiveAveragePooling(size=7x7)",
    "AdaptiveMaxPooling(size=1x1)",
    "Unpooling(kernel=2x2)",
    "Reshape(out_shape=3x32x32)",
    "Transpose(axes=[1, 2, 0])",
    'Pad(pad_width=[1, 1, 1, 1], mode="reflect")',
    'Pad(pad_width=[1, 1, 1, 1], mode="repeat")',
    "MulScalar(1/255)",
]


@pytest.mark.parametrize("call", LAYER_EXAMPLES)
def test_the_layer_examples_of_the_notes_compile(call, tmp_path):
    assert any(call in e.note for e in foreign.LAYERS), call
    text = NETWORK.format(body=f"h = x -> {call}\n    loss = h -> Affine(10) -> SoftmaxCrossEntropy(y)")
    assert diagnostics(text, tmp_path) == []


CONFIG_EXAMPLES = [
    ("solver", "Momentum(lr=0.1, momentum=0.9)"),
    ("solver", "Nesterov(lr=0.1, momentum=0.9)"),
    ("solver", "RMSprop(lr=1e-3, decay=0.9)"),
    ("schedule", "Exponential(multiplier=0.1, interval=30 epochs)"),
    ("schedule", "Step(multiplier=0.1, steps=[30 epochs, 60 epochs])"),
    ("schedule", "Plateau(monitor=valid_error, factor=0.1, patience=10)"),
    ("schedule", "Polynomial(power=1.0)"),
]


@pytest.mark.parametrize(("kind", "call"), CONFIG_EXAMPLES)
def test_the_solver_and_schedule_examples_of_the_notes_compile(kind, call, tmp_path):
    table = foreign.SOLVERS if kind == "solver" else foreign.SCHEDULES
    assert any(call in e.note or any(call in k[2] for k in e.keywords) for e in table), call
    settings = {"solver": "Adam", "schedule": "Constant", kind: call}
    assert diagnostics(TRAINING.format(**settings), tmp_path) == []


# --- unknown layers, solvers and schedules ------------------------------------------------------


@pytest.mark.parametrize("name", [n for e in foreign.LAYERS for n in e.names])
def test_an_unknown_framework_layer_gets_nncs_name(name, tmp_path):
    text = NETWORK.format(body=f"loss = x -> {name}(10) -> Affine(10) -> SoftmaxCrossEntropy(y)")
    d = only(diagnostics(text, tmp_path), "E0201")
    assert at(d) == (4, 17, 4, 17 + len(name))
    assert d.help == foreign.foreign_help(name, "layer")
    assert d.help.startswith(f"NNC's name for {name} is ")


def test_the_table_wins_over_did_you_mean_and_matches_loosely(tmp_path):
    text = NETWORK.format(body="loss = x -> max_pool2d(kernel=2) -> Affine(10) -> SoftmaxCrossEntropy(y)")
    d = only(diagnostics(text, tmp_path), "E0201")
    assert d.help.startswith("NNC's name for max_pool2d is MaxPooling: ")
    # a name in no table still gets did-you-mean
    text = NETWORK.format(body="loss = x -> Convolutoin(16) -> Affine(10) -> SoftmaxCrossEntropy(y)")
    assert only(diagnostics(text, tmp_path), "E0201").help == "did you mean 'Convolution'?"


def test_a_unit_of_the_spec_named_like_a_framework_layer_is_the_unit(tmp_path):
    text = "unit Dense(n: int) {\n    in x\n    out x -> Affine(n) -> ReLU\n}\n" + NETWORK.format(
        body="loss = x -> Dense(10) -> Affine(10) -> SoftmaxCrossEntropy(y)"
    )
    assert diagnostics(text, tmp_path) == []


@pytest.mark.parametrize(
    ("solver", "target"),
    [
        ("SGD(lr=0.1)", "NNC's name for SGD is Sgd: "),
        ("SGD(lr=0.1, momentum=0.9)", "SGD with momentum is NNC's Momentum: Momentum(lr=0.1, momentum=0.9)"),
        ("SGD(lr=0.1, momentum=0.9, nesterov=true)", "SGD with nesterov is NNC's Nesterov: "),
        ("sgd", "NNC's name for sgd is Sgd: "),
        ("AMSGrad(lr=0.01)", "NNC's name for AMSGrad is AMSGRAD: "),
    ],
)
def test_an_unknown_framework_solver_gets_nncs_name(solver, target, tmp_path):
    d = only(diagnostics(TRAINING.format(solver=solver, schedule="Constant"), tmp_path), "E0602")
    assert at(d)[:2] == (12, 46) and d.message == f"unknown solver '{solver.split('(')[0]}'"
    assert d.help.startswith(target), d.help


@pytest.mark.parametrize("name", [n for e in foreign.SCHEDULES for n in e.names])
def test_an_unknown_framework_schedule_gets_nncs_name(name, tmp_path):
    d = only(diagnostics(TRAINING.format(solver="Adam", schedule=f"{name}(gamma=0.1)"), tmp_path), "E0603")
    assert at(d) == (12, 63, 12, 63 + len(name))
    assert d.help == foreign.foreign_help(name, "schedule")


def test_steplr_says_which_exponential_it_is(tmp_path):
    text = TRAINING.format(solver="Adam", schedule="StepLR(step_size=30, gamma=0.1)")
    d = only(diagnostics(text, tmp_path), "E0603")
    assert d.help == (
        "NNC's name for StepLR is Exponential: StepLR(step_size=30, gamma=0.1) is "
        "Exponential(multiplier=0.1, interval=30 epochs)"
    )


# --- syntax ------------------------------------------------------------------------------------


def test_a_chain_line_without_its_arrow_gets_the_fix(tmp_path):
    body = "loss = x -> Convolution(16, kernel=3x3)\n        ReLU -> Affine(10) -> SoftmaxCrossEntropy(y)"
    d = only(diagnostics(NETWORK.format(body=body), tmp_path), "E0101")
    assert d.message == "unexpected '->'; expected ',' or '='"
    assert at(d) == (5, 14, 5, 16)
    assert d.help == (
        "to continue the chain on the next line, start that line with '->': -> ReLU -> Affine(10) -> SoftmaxCrossEnt..."
    )
    assert d.notes == ()


@pytest.mark.parametrize(
    ("line", "fixed"),
    [("Affine(10) -> SoftmaxCrossEntropy(y)", "-> Affine(10) -> SoftmaxCrossEntropy(y)"),
     ("fc: Affine(10) -> SoftmaxCrossEntropy(y)", "-> fc: Affine(10) -> SoftmaxCrossEntropy(y)")],
)  # fmt: skip
def test_a_chain_line_without_its_arrow_starting_with_a_call_or_a_label(line, fixed, tmp_path):
    body = f"loss = x -> Convolution(16, kernel=3x3)\n        {line}"
    d = only(diagnostics(NETWORK.format(body=body), tmp_path), "E0101")
    assert d.help == f"to continue the chain on the next line, start that line with '->': {fixed}"


def test_the_statement_start_is_pointed_at_when_the_error_is_on_a_later_line(tmp_path):
    body = "loss = x -> Convolution(16, kernel=3x3)\n        ReLU\n        -> Affine(10) -> SoftmaxCrossEntropy(y)"
    d = only(diagnostics(NETWORK.format(body=body), tmp_path), "E0101")
    assert at(d) == (6, 9, 6, 11)
    assert d.help.endswith("start that line with '->': -> ReLU")
    assert [(n.message, n.span.line, n.span.col, n.span.end_col) for n in d.notes] == [
        ("this line is read as a new statement", 5, 9, 13)
    ]


def test_no_chain_help_for_the_first_statement_of_a_block(tmp_path):
    text = "network Main {\n    ReLU -> Affine(10)\n}\n"
    d = only(diagnostics(text, tmp_path), "E0101")
    assert at(d)[:2] == (2, 10) and d.help is None


@pytest.mark.parametrize(
    ("call", "col", "help_"),
    [
        ('Input((3, 32, 32), dataset="x")', 17, "write a shape as 3x32x32, not (3, 32, 32)"),
        ('Input(shape=(3, 32, 32), dataset="x")', 23, "write a shape as 3x32x32, not (3, 32, 32)"),
        ("x -> Convolution(16, kernel=(3, 3))", 39, "write a shape as 3x3, not (3, 3)"),
        ("x -> Reshape((3072,))", 27, "write a shape as 3072, not (3072,)"),
        (
            "x -> Convolution(16, kernel=(k, k))",
            39,
            "nndsl has no tuples: write a shape as 3x32x32, and a list as [a, b] (a list of ints is a shape too)",
        ),
        ("x -> Convolution(16, kernel=3 x 3)", 41, "write a shape without spaces: 3x3"),
    ],
)
def test_a_tuple_or_a_spaced_shape_gets_the_shape_syntax(call, col, help_, tmp_path):
    d = only(diagnostics(NETWORK.format(body=f"z = {call}"), tmp_path), "E0101")
    assert at(d)[:2] == (4, col)
    assert d.help == help_


def test_a_shape_given_as_several_numbers(tmp_path):
    d = only(diagnostics(NETWORK.format(body='z = Input(3, 32, 32, dataset="x")'), tmp_path), "E0302")
    assert at(d) == (4, 18, 4, 20) and d.help == "write a shape as 3x32x32"
    d = only(diagnostics(NETWORK.format(body="z = x -> Convolution(16, 3, 3)"), tmp_path), "E0302")
    assert d.help == "write a shape as 3x3"


def test_an_int_and_a_list_are_shapes_already(tmp_path):
    for kernel in ("3", "[3, 3]"):
        text = NETWORK.format(
            body=f"loss = x -> c: Convolution(16, kernel={kernel}) -> Affine(10) -> SoftmaxCrossEntropy(y)"
        )
        r = compile_file(tmp_path / "net.nnd", text=text)
        assert r.diagnostics == []
        assert next(lay for lay in r.project.networks[0].layers if lay.name == "c").params["kernel"] == (3, 3)


def test_a_module_qualified_layer(tmp_path):
    d = only(diagnostics(NETWORK.format(body="z = x -> nn.Conv2d(3)"), tmp_path), "E0101")
    assert at(d)[:2] == (4, 23)
    assert d.help == "a layer is called by its name alone, without a module; " + foreign.foreign_help("Conv2d", "layer")


# --- lint --strict -----------------------------------------------------------------------------

STRICT = """unit Block(maps: int) {
    in x
    out x -> Convolution(maps, kernel=3x3) -> BatchNormalization -> LeakyReLU
}
network Training {
    x = Input(3x32x32, dataset="x")
    y = Input(1, dataset="y")
    h = x -> b1: Block(16) -> b2: Block(16) -> Convolution(16, kernel=1x1) -> Convolution(16, kernel=3x3, pad=0)
    h2 = h -> DepthwiseConvolution(kernel=3x3) -> BatchNormalization(epsilon=1e-5) -> LeakyReLU(alpha=0.01)
    h3 = h2 -> Convolution(16, kernel=3x3, border_mode="same") -> DepthwiseConvolution(kernel=1x1)
    loss = h3 -> Affine(10) -> SoftmaxCrossEntropy(y)
}
"""


def test_strict_reports_the_nnc_defaults_a_layer_relies_on(tmp_path):
    diags = diagnostics(STRICT, tmp_path, lint=True, strict=True)
    got = [(d.code, d.message, *at(d)[:2]) for d in diags]
    assert got == [
        ("W113", "Convolution relies on NNC's default border_mode=same", 3, 14),
        ("W113", "BatchNormalization relies on NNC's default epsilon=0.0001", 3, 47),
        ("W113", "LeakyReLU relies on NNC's default alpha=0.1", 3, 69),
        ("W113", "DepthwiseConvolution relies on NNC's default border_mode=valid", 9, 15),
    ]
    assert diags[0].help.startswith("it pads to keep the size, where PyTorch's Conv2d and Keras's Conv2D pad nothing")
    assert diags[1].help.startswith("PyTorch's BatchNorm2d adds 1e-5 to the variance, Keras's BatchNormalization 1e-3")
    assert diags[3].help.endswith("write border_mode= to say which you mean")
    assert diagnostics(STRICT, tmp_path, lint=True) == []


def test_strict_reports_a_dataset_csv_that_is_not_there(tmp_path):
    spec = tmp_path / "spec"  # the spec's folder; ../outside.csv, in no folder the spec may read, is not there either
    (spec / "data").mkdir(parents=True)
    (spec / "data" / "valid.csv").write_text("x:image,y:label\n", encoding="utf-8")
    text = (
        'dataset training = "data/train.csv"\n'
        'dataset validation = "data/valid.csv"\n'
        'dataset elsewhere = "../outside.csv"\n'
        + NETWORK.format(body="loss = x -> Affine(10) -> SoftmaxCrossEntropy(y)")
    )
    diags = diagnostics(text, spec, lint=True, strict=True)
    d = only(diags, "W114")
    assert d.message == "dataset 'training': 'data/train.csv' does not exist"
    assert at(d) == (1, 20, 1, 36)
    assert d.help == "a dataset's path is read relative to the spec's folder"
    assert "W114" not in {d.code for d in diagnostics(text, spec, lint=True)}


def test_lint_strict_on_the_command_line(tmp_path, capsys, monkeypatch):
    spec = tmp_path / "net.nnd"
    spec.write_text('dataset training = "train.csv"\n' + STRICT, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    assert main(["lint", "net.nnd"]) == 0
    assert "W113" not in capsys.readouterr().err
    assert main(["lint", "--strict", "--format", "json", "net.nnd"]) == 1
    out = json.loads(capsys.readouterr().out)
    codes = [(d["code"], d["line"], d["column"]) for d in out["diagnostics"]]
    assert ("W114", 1, 20) in codes and ("W113", 4, 14) in codes
