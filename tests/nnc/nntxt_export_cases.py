"""The specs `nndsl export -o X.nntxt` is checked on, and what both sides feed them.

Shared by tests/nnc/test_nntxt_export.py and tools/nnc_nntxt_export_fixtures.py (which runs
nnabla on the exported files and stores what it computed under
tests/nnc/fixtures/nntxt_export/). Parameters and inputs are regenerated here from a seed with
numpy's own generator (the same numbers on every machine), so no weight file is stored.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "nntxt_export"
HAND = FIXTURES / "specs"

# specs/ whose networks are too big to run in the suite's time: exported and checked against the
# golden file and nnabla's loader, and their Runtime network alone is run (one sample).
LARGE = {"resnet18", "resnet34", "resnet50", "resnet101", "resnet152", "inception_v3", "alexnet"}
LARGE |= {f"vgg{depth}{bn}" for depth in (11, 13, 16, 19) for bn in ("", "_bn")}
LARGE |= {"densenet121", "densenet161", "efficientnet_b0", "mobilenet", "mobilenet_v2", "mobilenet_v3_large"}
LARGE |= {"resnext50_32x4d", "se_resnet50", "shufflenet_v2_x1_0", "squeezenet1_1", "unet", "xception"}

# specs/ that NNC cannot hold, with why: both exports refuse them at the layer (.sdcproj E0960,
# .nntxt E0801; tests/nnc/test_export.py checks the message), so they have no export fixtures.
NOT_NNC = {
    # torchvision's adaptive average pooling of 14x14 to 4x4 in the auxiliary classifiers makes
    # windows of 4 at 0, 3, 7 and 10: no NNC pooling (one stride per axis) makes them
    "googlenet": "specs/googlenet.nnd:44:12",
}

# Zoo outputs nnabla computed but that say nothing of NNC's layer, with the reason: not compared
# (tests/keras/test_keras_layer_zoo.py checks they still are as described; the layer is compared
# with nnabla's function in tests/test_math_layer_edge_values.py instead).
NNABLA_NOT_MEANINGFUL = {
    # NNC's create_prototxt writes SoftPlus without softplus_param, as the export does; nnabla 1.39
    # then reads beta 0 and computes log(1 + exp(0 * x)) / 0 = inf. NNC's SoftPlus is beta 1.
    "hand_all_layers:SoftPlusNet:SoftPlus": "nnabla 1.39 reads the absent beta as 0: inf everywhere",
}

# Layers whose second input is a class index (the label): inputs feeding them get integers.
LABEL_CONSUMERS = {"CategoricalCrossEntropy", "SoftmaxCrossEntropy", "TopNError"}
# Layers whose second input nnabla reads as 0 or 1 (a binary label).
BINARY_CONSUMERS = {"SigmoidCrossEntropy", "BinaryCrossEntropy", "BinaryError"}


def spec_paths() -> dict[str, Path]:
    """Every case by name: the project's specs/ and the hand specs of the fixtures."""
    cases = {p.stem: p for p in sorted((ROOT / "specs").glob("*.nnd")) if p.stem not in NOT_NNC}
    cases.update({f"hand_{p.stem}": p for p in sorted(HAND.glob("*.nnd"))})
    return cases


def relative(path: Path) -> str:
    return str(path.resolve().relative_to(ROOT))


def random_layers(net) -> list[str]:
    from nndsl.layers import REGISTRY

    out = []
    for layer in net.layers:
        spec = REGISTRY[layer.type]
        active = net.training or not layer.params.get("skip_at_test", False)
        ins = tuple(net.value(v).shape for v in layer.inputs)
        if active and spec.is_random(layer.params, ins):
            out.append(layer.name)
    return out


def _values(n: int, seed: int) -> np.ndarray:
    """`n` numbers in [0, 1) from a fixed formula (not a random generator whose stream may change
    between numpy versions): the same on every machine."""
    i = np.arange(n, dtype=np.float64)
    return np.modf(np.abs(np.sin(i * 12.9898 + seed * 78.233 + 0.5) * 43758.5453))[0]


# The networks of a case that the suite runs (all of them unless listed).
def networks_run(name: str, project) -> list[str]:
    if name in LARGE:
        return [e.network for e in project.config.executors[:1]] or [project.networks[-1].name]
    return [n.name for n in project.networks]


def parameters(project, seed: int = 0) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Deterministic parameter values: ({nndsl name: array in nndsl's shape},
    {nnabla name: the same array in nnabla's shape}): weights uniform in +-sqrt(3 / fan-in) (unit
    variance over the fan-in); BatchNormalization's scale in [0.5, 1), variance in [0.5, 1.5),
    shift, mean and biases in +-0.1, so that deep networks stay away from saturated outputs."""
    from nndsl.nnc.names import nnc_parameter_table

    table = nnc_parameter_table(project)
    nndsl: dict[str, np.ndarray] = {}
    nnabla: dict[str, np.ndarray] = {}
    shapes = project.parameter_table()
    for k, name in enumerate(sorted(table)):
        shape = tuple(shapes[name].shape)
        fan_in = math.prod(shape[1:]) if len(shape) > 1 else 1
        u = _values(math.prod(shape), seed * 100003 + k).reshape(shape)
        last = name.rsplit("/", 1)[-1]
        if last == "var":
            a = u + 0.5
        elif last == "gamma":
            a = u * 0.5 + 0.5
        elif last in ("beta", "mean", "b"):
            a = (u * 2 - 1) * 0.1
        else:
            a = (u * 2 - 1) * math.sqrt(3 / max(fan_in, 1))
        a = a.astype(np.float32)
        nndsl[name] = a
        nnabla[table[name][0]] = a.reshape(table[name][1])
    return nndsl, nnabla


def inputs(net, batch: int, seed: int = 1) -> dict[str, np.ndarray]:
    """Inputs for `net` by variable name (the Input's value name, as the .nntxt names it):
    class indices where a loss or error reads a label, 0/1 for binary labels, else [0, 1)."""
    labels: dict[int, int] = {}
    for layer in net.layers:
        if layer.type in LABEL_CONSUMERS and len(layer.inputs) > 1:
            labels[layer.inputs[1]] = net.value(layer.inputs[0]).shape[0]
        elif layer.type in BINARY_CONSUMERS and len(layer.inputs) > 1:
            labels[layer.inputs[1]] = 2
    out = {}
    for k, vid in enumerate(net.inputs):
        v = net.value(vid)
        shape = (batch, *v.shape)
        u = _values(math.prod(shape), seed * 1009 + k).reshape(shape)
        out[v.name] = (np.floor(u * labels[vid]) if vid in labels else u).astype(np.float32)
    return out


def deterministic(net) -> bool:
    return not random_layers(net)


# --- every layer type -------------------------------------------------------------------------

# Input shapes tried for a layer type, first that compiles wins: (inputs of the layer's pins).
_SHAPES = ((3, 4, 4), (4,), (2, 3, 4, 4), (3, 6, 6), (3, 1))
# Arguments where a layer's defaults do not fit small inputs.
_ARGS = {"Reshape": "out_shape=4x12"}


def _candidates(spec) -> list[tuple[tuple[int, ...], ...]]:
    n = max(len(spec.inputs), 1)
    out = []
    for s in _SHAPES:
        out.append((s,) * n)
        if n == 2:
            out.append((s, (1,)))
            out.append((s, (1, *s[1:])))
    return out


def _shape_text(s: tuple[int, ...]) -> str:
    return "x".join(str(d) for d in s)


def _network(ltype: str, shapes) -> str:
    lines = [f"network {ltype}Net {{"]
    names = []
    for i, s in enumerate(shapes):
        names.append(f"x{i}")
        lines.append(f'    x{i} = Input({_shape_text(s)}, dataset="x{i}")')
    from nndsl.layers import REGISTRY

    if not REGISTRY[ltype].inputs:  # a layer without inputs (WorkingMemory) of the input's shape, added to it
        lines.append(f"    m = {ltype}({_shape_text(shapes[0])})")
        lines += ["    y = Add2(x0, m)", "}"]
        return "\n".join(lines) + "\n"
    extra = [_ARGS[ltype]] if ltype in _ARGS else []
    if REGISTRY[ltype].param("skip_at_test") is not None:
        extra.append("skip_at_test=false")  # so that the random layer runs (it is not trained)
    args = ", ".join([*names, *extra])
    lines.append(f"    y = {ltype}({args})")
    lines.append("}")
    return "\n".join(lines) + "\n"


ALL_LAYERS_HEADER = (
    "# One network per layer type of nndsl's registry, each layer with its defaults on small inputs\n"
    "# (generated by tests/nnc/nntxt_export_cases.py all_layers_parts; do not edit).\n"
)


def all_layers_parts() -> tuple[dict[str, str], list[str]]:
    """One network per layer type of the registry (NNC's: not the nndsl-only types NNC lacks,
    tests/test_ceil_adaptive_pooling.py checks those against torch), each layer with its defaults on
    small inputs (the first input shapes that compile), by type; and the types none compiles for."""
    from nndsl.compiler import compile_file
    from nndsl.layers import REGISTRY

    parts: dict[str, str] = {}
    skipped: list[str] = []
    for ltype in sorted(REGISTRY):
        spec = REGISTRY[ltype]
        if spec.nndsl_only:
            continue
        if spec.kind == "input":
            skipped.append(ltype)
            continue
        for shapes in _candidates(spec):
            text = _network(ltype, shapes)
            if compile_file("all_layers.nnd", text=text).ok:
                parts[ltype] = text
                break
        else:
            skipped.append(ltype)
    return parts, skipped


def all_layers_spec(types=None) -> str:
    """The spec of `all_layers_parts` (of `types` only, when given). Checked in as
    fixtures/nntxt_export/specs/all_layers.nnd (a test checks it is current)."""
    parts, _ = all_layers_parts()
    return ALL_LAYERS_HEADER + "\n" + "\n".join(t for k, t in parts.items() if types is None or k in types)


def torch_types(parts: dict[str, str]) -> list[str]:
    """The layer types of `parts` the PyTorch backend generates code for."""
    from nndsl.backends.builder import BackendUnsupported
    from nndsl.backends.torch.render import render_model
    from nndsl.compiler import compile_file

    out = []
    for ltype, text in parts.items():
        try:
            render_model(compile_file("all_layers.nnd", text=text).project)
        except BackendUnsupported:
            continue
        out.append(ltype)
    return out


# --- running the generated PyTorch model --------------------------------------------------------


def torch_outputs(project, out_dir: Path, nndsl_params, feeds, networks) -> dict[str, dict[str, np.ndarray]]:
    """The generated PyTorch project of `project`, in `out_dir`, run on `feeds` ({network:
    {input: array}}) with `nndsl_params` loaded before each network (a trained network's
    BatchNormalization updates its running statistics): {network: {.nntxt variable: output}}."""
    import sys

    import torch

    from nndsl.backends.torch import generate
    from nndsl.nnc.nntxt_write import variable_names

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from conftest import import_generated

    generate(project, out_dir)
    model = import_generated(out_dir).create_model()
    params = out_dir / "params.npz"
    table = project.parameter_table()
    np.savez(params, **{k: v for k, v in nndsl_params.items() if k in table})
    # What NNC's files do not hold (BinaryWeight*'s bias) keeps its initial value, 0: NNC's result.
    from nndsl.nnc.names import nnc_parameter_table

    absent = set(table) - set(nnc_parameter_table(project))
    assert set(table) - set(nndsl_params) == absent
    result = {}
    for name in networks:
        net = project.network(name)
        model.load_params(params, partial=bool(absent))
        with torch.no_grad():
            got = model.run_network(name, **{k: torch.from_numpy(v) for k, v in feeds[name].items()})
        var = variable_names(net)
        result[name] = {var[vid]: got[net.value(vid).name].numpy() for vid in net.outputs}
    return result


def max_difference(expected: np.ndarray, got: np.ndarray) -> tuple[float, float]:
    """(max abs difference, the output's scale: its max abs finite value, at least 1e-6). NaN where
    `expected` has NaN and equal infinities agree; a NaN or an infinity in one array only is an
    infinite difference (so that it fails any tolerance)."""
    want = expected.astype(np.float64)
    got = np.asarray(got, dtype=np.float64).reshape(expected.shape)
    same = (np.isnan(want) & np.isnan(got)) | (np.isinf(want) & (want == got))
    with np.errstate(invalid="ignore"):
        diff = np.where(same, 0.0, np.abs(want - got))
    diff = np.where(np.isnan(diff), np.inf, diff)
    return float(diff.max(initial=0.0)), max(float(np.abs(want[np.isfinite(want)]).max(initial=0.0)), 1e-6)
