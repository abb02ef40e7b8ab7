"""What the export's tests and fixture script share: seeded parameters and inputs, and the
generated PyTorch model's outputs on them, to set beside nnabla's on the exported project.

Parameters and inputs come from numpy's PCG64 generator with a fixed seed, in a fixed order,
so the fixture script and the tests (on any machine) make the same arrays without storing
weights: the fixtures hold only nnabla's outputs.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Any

import numpy as np

from ..ir import Network, Project
from ..layers import REGISTRY

# Losses and errors whose target is a class index (below the size of the input's axis 0).
_CLASS_TARGETS = frozenset({"CategoricalCrossEntropy", "SoftmaxCrossEntropy", "TopNError"})


def seeded_parameters(table: dict[str, tuple[str, tuple[int, ...]]], seed: int = 0) -> dict[str, np.ndarray]:
    """nnabla name -> array in nnabla's shape, for every entry of an export parameter table.
    Variances (`.../var`) are positive."""
    rng = np.random.default_rng(seed)
    out: dict[str, np.ndarray] = {}
    for nnabla, shape in sorted(table.values()):
        a = rng.standard_normal(shape).astype(np.float32) * np.float32(0.2)
        if nnabla.endswith("/var"):
            a = np.abs(a) + np.float32(0.5)
        out[nnabla] = a
    return out


def deterministic(net: Network) -> bool:
    """No layer of the network varies from run to run."""
    for layer in net.layers:
        ins = tuple(net.value(v).shape for v in layer.inputs)
        if REGISTRY[layer.type].is_random(layer.params, ins):
            return False
    return True


def seeded_inputs(net: Network, batch: int = 2, seed: int = 0) -> dict[str, np.ndarray]:
    """.nnd input name -> a batch: class indices for a class target, uniform [0, 1) else."""
    rng = np.random.default_rng(seed)
    classes: dict[int, int] = {}
    for layer in net.layers:
        if layer.type in _CLASS_TARGETS and len(layer.inputs) == 2:
            classes[layer.inputs[1]] = net.value(layer.inputs[0]).shape[0]
    out: dict[str, np.ndarray] = {}
    for vid in net.inputs:
        value = net.value(vid)
        shape = (batch, *value.shape)
        if vid in classes:
            out[value.name] = rng.integers(0, classes[vid], size=shape).astype(np.float32)
        else:
            out[value.name] = rng.random(shape, dtype=np.float32)
    return out


def torch_outputs(
    project: Project,
    params: dict[str, np.ndarray],
    table: dict[str, tuple[str, tuple[int, ...]]],
    inputs: dict[str, dict[str, np.ndarray]],
    folder: Path,
) -> dict[str, dict[str, np.ndarray]]:
    """The generated PyTorch project's outputs: network -> output name -> array, with the
    parameters `params` (nnabla's names) loaded through the model's `load_params`."""
    import torch

    from ..backends.torch import generate

    generate(project, folder)
    _forget_project_modules()
    sys.path.insert(0, str(folder))
    try:
        module: Any = importlib.import_module("model")
        model = module.create_model()
        npz = {}
        for nndsl, (nnabla, _) in table.items():
            npz[nndsl] = params[nnabla].reshape(module.Model.PARAMETERS[nndsl][2])
        np.savez(folder / "params.npz", **npz)
        model.load_params(folder / "params.npz")
        out: dict[str, dict[str, np.ndarray]] = {}
        with torch.no_grad():
            for net, arrays in inputs.items():
                results = model.run_network(net, **{k: torch.from_numpy(v) for k, v in arrays.items()})
                out[net] = {k: v.detach().numpy() for k, v in results.items()}
        return out
    finally:
        sys.path.remove(str(folder))
        _forget_project_modules()


def _forget_project_modules() -> None:
    """Drop a generated project's modules (`model`, its runtime package `nndsl_runtime.*`) from the
    import cache, so that the next project imports its own: projects ship different runtime modules."""
    for name in [n for n in sys.modules if n.split(".")[0] in ("model", "nndsl_runtime")]:
        del sys.modules[name]


# --- NNC's tool and nnabla, where this machine has them ----------------------------------------


def _beside_checkout(*parts: str) -> list[Path]:
    root = Path(__file__).resolve().parents[2]
    return [base.joinpath(*parts) for base in (root.parent, root.parent.parent)]


def find_nnc_tools() -> Path | None:
    """NNC's project tool folder (`nncd_console/nncd_console_cli_util` inside): `NNDSL_NNC_TOOLS`,
    else `shared/nnc-tools` beside the checkout."""
    import os

    given = os.environ.get("NNDSL_NNC_TOOLS")
    for base in [Path(given)] if given else _beside_checkout("shared", "nnc-tools"):
        if (base / "nncd_console" / "nncd_console_cli_util").is_file():
            return base
    return None


def find_nnabla_python() -> Path | None:
    """A Python with nnabla: `NNDSL_NNABLA_PYTHON`, else `nnabla-venv/bin/python` beside the checkout."""
    import os

    given = os.environ.get("NNDSL_NNABLA_PYTHON")
    for path in [Path(given)] if given else _beside_checkout("nnabla-venv", "bin", "python"):
        if path.is_file():
            return path
    return None


def run_nnc(tools: Path, sdcproj: Path) -> dict[str, Any]:
    """NNC's `error_check` and `create_prototxt` on `sdcproj` (an absolute path): their verdicts,
    and the nntxt written beside it (`<stem>.nntxt`) when the conversion succeeded."""
    import subprocess

    cwd = tools / "nncd_console"
    exe = str(cwd / "nncd_console_cli_util")
    sdcproj = sdcproj.resolve()
    stem = sdcproj.with_suffix("")
    r = subprocess.run(
        [exe, "error_check", "-i", str(sdcproj), "-o", f"{stem}.errors.txt"],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )
    lines = [ln for ln in r.stdout.splitlines() if not ln.startswith(("input ", "output "))]
    c = subprocess.run(
        [exe, "create_prototxt", "-i", str(sdcproj), "-o", f"{stem}.nntxt", "-p", f"{stem}.csv"],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )
    converted = c.returncode == 0 and "successfully created" in c.stdout
    return {"error_check": "\n".join(lines).strip(), "create_prototxt": converted}


def run_nnabla(
    python: Path, nntxt: Path, params: dict[str, np.ndarray] | None, inputs: dict[str, np.ndarray], out: Path
) -> tuple[dict[str, np.ndarray], dict[str, list[int]]]:
    """tools/nnc_nnabla_run.py under nnabla's Python: its outputs and the parameters it created."""
    import json
    import subprocess

    script = Path(__file__).resolve().parents[2] / "tools" / "nnc_nnabla_run.py"
    cmd = [str(python), str(script), str(nntxt), "--out", str(out)]
    if params is not None:
        np.savez(out.with_suffix(".params.npz"), **params)
        cmd += ["--params", str(out.with_suffix(".params.npz"))]
    if inputs:
        np.savez(out.with_suffix(".inputs.npz"), **inputs)
        cmd += ["--inputs", str(out.with_suffix(".inputs.npz"))]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if r.returncode != 0:
        raise RuntimeError(f"nnabla failed on {nntxt}:\n{r.stderr[-3000:]}")
    with np.load(out, allow_pickle=False) as z:
        outputs = {k: z[k] for k in z.files}
    created = json.loads(out.with_suffix(".parameters.json").read_text(encoding="utf-8"))
    return outputs, created
