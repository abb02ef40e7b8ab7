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
LARGE = {"resnet18", "resnet34", "resnet50", "resnet101", "resnet152", "vgg16"}

# Layers whose second input is a class index (the label): inputs feeding them get integers.
LABEL_CONSUMERS = {"CategoricalCrossEntropy", "SoftmaxCrossEntropy", "TopNError"}


def spec_paths() -> dict[str, Path]:
    """Every case by name: the project's specs/ and the hand specs of the fixtures."""
    cases = {p.stem: p for p in sorted((ROOT / "specs").glob("*.nnd"))}
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
        if active and spec.is_random(layer.params, ()):
            out.append(layer.name)
    return out


def parameters(project, seed: int = 0) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Deterministic parameter values: ({nndsl name: array in nndsl's shape},
    {nnabla name: the same array in nnabla's shape}). Normal(0, 1/sqrt(fan-in)) weights;
    BatchNormalization's variance is positive."""
    from nndsl.nnc.names import nnc_parameter_table

    table = nnc_parameter_table(project)
    rng = np.random.default_rng(seed)
    nndsl: dict[str, np.ndarray] = {}
    nnabla: dict[str, np.ndarray] = {}
    shapes = project.parameter_table()
    for name in sorted(table):
        shape = tuple(shapes[name].shape)
        fan_in = math.prod(shape[1:]) if len(shape) > 1 else 1
        a = rng.standard_normal(shape).astype(np.float32) / np.float32(math.sqrt(max(fan_in, 1)))
        if name.endswith("/var"):
            a = np.abs(a) + np.float32(0.5)
        nndsl[name] = a
        nnabla[table[name][0]] = a.reshape(table[name][1])
    return nndsl, nnabla


def inputs(net, batch: int, seed: int = 1) -> dict[str, np.ndarray]:
    """Inputs for `net` by variable name (the Input's value name, as the .nntxt names it)."""
    rng = np.random.default_rng(seed)
    labels: dict[int, int] = {}
    for layer in net.layers:
        if layer.type in LABEL_CONSUMERS and len(layer.inputs) > 1:
            classes = net.value(layer.inputs[0]).shape[0]
            labels[layer.inputs[1]] = classes
    out = {}
    for vid in net.inputs:
        v = net.value(vid)
        if vid in labels:
            out[v.name] = rng.integers(0, labels[vid], size=(batch, *v.shape)).astype(np.float32)
        else:
            out[v.name] = rng.random((batch, *v.shape), dtype=np.float32)
    return out
