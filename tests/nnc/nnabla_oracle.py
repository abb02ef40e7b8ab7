"""The nnabla oracle's deterministic parameters and inputs, and its stored results.

nnabla (NNC's runtime) is the ground truth for what an NNC network computes, but the tests
run where nnabla is not installed. So `tools/nnc_oracle_fixtures.py` (run once, with nnabla and
NNC's project tool) converts every sample with NNC's `create_prototxt`, runs every network in
nnabla on the parameters and inputs made here, and stores what nnabla computed under
`fixtures/oracle/<sample stem>/`; the tests rebuild the very same parameters and inputs with this
module (numpy only: it runs under nnabla's Python 3.10 and under the project's) and compare.

- A parameter is drawn from its NNC initializer as the `.nntxt` gives it (type and multiplier,
  nnabla's formulas from `nnabla/core/graph_def.py:_create_initializer`), by numpy's PCG64
  generator seeded with the CRC-32 of its nnabla name, in float32 (VGG-11's 133M parameters take
  about a second; numpy keeps these streams stable across versions, and the digests check it). A `Constant` parameter
  (biases, BatchNormalization's beta/gamma/mean/var) gets a seeded offset on top, so that a test
  cannot pass with those parameters misplaced: every value in [c - s/2, c + s/2) with
  s = max(|c|, 1), positive for a variance.
- An input is seeded with the CRC-32 of `<stem>/<network>/<variable>`: data uniform in [0, 1),
  class labels integers in [0, classes), binary targets 0 or 1.
- `meta.json` keeps, per parameter, the initializer and a SHA-256 of the values nnabla ran
  with, and per input its kind and digest, so that a test knows it rebuilt what nnabla saw.
"""

from __future__ import annotations

import hashlib
import json
import math
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
SAMPLES = HERE / "samples"
FIXTURES = HERE / "fixtures" / "oracle"
BATCH_SIZE = 2

# Loss and error functions whose second input is a class index along an axis of the first.
CLASS_LABEL_FUNCTIONS = frozenset({"CategoricalCrossEntropy", "SoftmaxCrossEntropy", "TopNError"})
# ... whose second input is a 0/1 target.
BINARY_TARGET_FUNCTIONS = frozenset({"BinaryCrossEntropy", "SigmoidCrossEntropy", "BinaryError"})


def seed_of(text: str) -> int:
    """The RandomState seed for a name: its CRC-32 (UTF-8)."""
    return zlib.crc32(text.encode("utf-8"))


def _std_he_forward(inmaps: int, outmaps: int, kernel: int) -> float:
    return math.sqrt(2.0 / (kernel * inmaps))


def _std_he_backward(inmaps: int, outmaps: int, kernel: int) -> float:
    return math.sqrt(2.0 / (kernel * outmaps))


def _std_glorot(inmaps: int, outmaps: int, kernel: int) -> float:
    return math.sqrt(2.0 / (kernel * (inmaps + outmaps)))


def _lim_glorot(inmaps: int, outmaps: int, kernel: int) -> float:
    return math.sqrt(6.0 / (kernel * (inmaps + outmaps)))


def _fans(family: str, shape: tuple[int, ...]) -> tuple[int, int, int]:
    """(inmaps, outmaps, kernel area) as nnabla's `_create_initializer` reads them from a shape."""
    if family == "Affine":  # W is (inmaps, outmaps...)
        return shape[0], math.prod(shape[1:]), 1
    if family == "Convolution":  # W is (outmaps, inmaps, kh, kw)
        return shape[-3], shape[0], math.prod(shape[-2:])
    if family == "CLConv":  # channel-last W is (outmaps, kh, kw, inmaps)
        return shape[-1], shape[0], math.prod(shape[1:3])
    raise ValueError(family)


_NORMAL = {
    "He": _std_he_forward,
    "HeForward": _std_he_forward,
    "HeBackward": _std_he_backward,
    "Glorot": _std_glorot,
}


def _rng(text: str) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64(seed_of(text)))


def _normal(rng: np.random.Generator, shape: tuple[int, ...], std: float) -> np.ndarray:
    value = rng.standard_normal(shape, dtype=np.float32)
    value *= np.float32(std)
    return value


def _uniform(rng: np.random.Generator, shape: tuple[int, ...], lim: float) -> np.ndarray:
    value = rng.random(shape, dtype=np.float32)  # [0, 1)
    value *= np.float32(2 * lim)
    value -= np.float32(lim)
    return value


def initial_value(name: str, shape: tuple[int, ...], initializer: str, multiplier: float) -> np.ndarray:
    """A draw from NNC's initializer `initializer` (with its multiplier), seeded by `name`."""
    shape = tuple(int(d) for d in shape)
    rng = _rng(name)
    if initializer == "Constant":
        return np.full(shape, multiplier, dtype=np.float32)
    if initializer == "Normal":
        return _normal(rng, shape, multiplier)
    if initializer == "Uniform":
        return _uniform(rng, shape, multiplier)
    if initializer == "Range":
        return (np.arange(math.prod(shape), dtype=np.float64).reshape(shape) * multiplier).astype(np.float32)
    for family in ("Affine", "Convolution", "CLConv"):
        for kind, std in _NORMAL.items():
            if initializer == f"Normal{family}{kind}":
                return _normal(rng, shape, std(*_fans(family, shape)) * multiplier)
        if initializer == f"Uniform{family}Glorot":
            return _uniform(rng, shape, _lim_glorot(*_fans(family, shape)) * multiplier)
    raise ValueError(f"parameter {name!r}: no oracle for NNC initializer {initializer!r}")


def oracle_parameter(name: str, shape: tuple[int, ...], initializer: str, multiplier: float) -> np.ndarray:
    """The value the oracle gives parameter `name`: its initializer's draw, and for a Constant
    parameter a seeded offset (see the module docstring)."""
    value = initial_value(name, shape, initializer, multiplier)
    if initializer != "Constant":
        return value
    offset = _uniform(_rng(name + "#offset"), value.shape, 0.5 * max(abs(float(multiplier)), 1.0))
    if name.endswith("/var"):
        # A running variance of at least 1, whatever NNC's initial constant: below it every
        # BatchNormalization of an inference network amplifies, and a deep residual network
        # (ResNet-110: 54 blocks) overflows float32, in nnabla and in the frameworks alike, so
        # a comparison would say nothing.
        return np.maximum(value, 1.0) + np.abs(offset)
    return value + offset


def oracle_input(seed_text: str, shape: tuple[int, ...], kind: str, classes: int = 0) -> np.ndarray:
    """A seeded input: `data` uniform in [0, 1), `label` integers in [0, classes), `binary` 0/1."""
    rng = _rng(seed_text)
    shape = tuple(int(d) for d in shape)
    if kind == "label":
        return rng.integers(0, classes, size=shape).astype(np.float32)
    if kind == "binary":
        return rng.integers(0, 2, size=shape).astype(np.float32)
    if kind == "data":
        return rng.random(shape, dtype=np.float32)
    raise ValueError(f"input kind {kind!r}")


def digest(array: np.ndarray) -> str:
    """SHA-256 of an array's float32 values in C order."""
    return hashlib.sha256(np.ascontiguousarray(array, dtype=np.float32).tobytes()).hexdigest()


@dataclass(frozen=True)
class OracleCase:
    """What the oracle stored for one sample."""

    stem: str
    meta: dict
    outputs: dict[str, np.ndarray]  # "<network>/<variable>" -> nnabla's output

    @property
    def networks(self) -> list[dict]:
        return self.meta["networks"]

    def parameters(self) -> dict[str, np.ndarray]:
        """nnabla name -> the value nnabla ran with (rebuilt, checked against its digest)."""
        values = {}
        for p in self.meta["parameters"]:
            value = oracle_parameter(p["name"], tuple(p["shape"]), p["initializer"], p["multiplier"])
            if digest(value) != p["digest"]:
                raise AssertionError(f"{self.stem}: parameter {p['name']} rebuilt differently from the oracle's")
            values[p["name"]] = value
        return values

    def inputs(self, network: dict) -> dict[str, np.ndarray]:
        """nnabla input variable name -> the array nnabla ran `network` on (checked)."""
        values = {}
        for v in network["inputs"]:
            value = oracle_input(v["seed"], tuple(v["shape"]), v["kind"], v.get("classes", 0))
            if digest(value) != v["digest"]:
                raise AssertionError(f"{self.stem}: input {network['name']}/{v['name']} rebuilt differently")
            values[v["name"]] = value
        return values

    def output(self, network: dict, variable: str) -> np.ndarray:
        return self.outputs[f"{network['name']}/{variable}"]


def oracle_stems() -> list[str]:
    """The samples the oracle has results for."""
    return sorted(p.name for p in FIXTURES.iterdir() if (p / "meta.json").is_file()) if FIXTURES.is_dir() else []


def load_case(stem: str, root: Path = FIXTURES) -> OracleCase:
    folder = root / stem
    meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
    outputs: dict[str, np.ndarray] = {}
    if (folder / "outputs.npz").is_file():
        with np.load(folder / "outputs.npz", allow_pickle=False) as npz:
            outputs = {key: npz[key] for key in npz.files}
    return OracleCase(stem, meta, outputs)
