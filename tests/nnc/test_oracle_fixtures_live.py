"""The stored oracle results are what NNC's tool and nnabla compute today (live, where they are).

Runs `tools/nnc_oracle_fixtures.py` with the real tools on two small samples (one with
BatchNormalization, one with repeats) into a temporary folder and compares with
`fixtures/oracle/`: same networks, inputs, parameters (names, shapes, initializers, digests) and
outputs. nnabla's Python is `$NNDSL_NNABLA_PYTHON`, else `/work/nnabla-venv/bin/python`; NNC's tool
folder is `$NNDSL_NNC_TOOL`, else `../shared/nnc-tools/nncd_console` beside the repository. Without
them the test is skipped: `test_samples_vs_nnabla.py` makes the same claim from the fixtures.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import nnabla_oracle as oracle  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
LIVE_STEMS = ["tutorial_basics_01_logistic_regression", "tutorial_basics_12_residual_learning"]


def _nnabla_python() -> Path | None:
    for candidate in (os.environ.get("NNDSL_NNABLA_PYTHON"), "/work/nnabla-venv/bin/python"):
        if candidate and Path(candidate).is_file():
            done = subprocess.run([candidate, "-c", "import nnabla"], capture_output=True, timeout=120)
            if done.returncode == 0:
                return Path(candidate)
    return None


def _nnc_tool() -> Path | None:
    for candidate in (os.environ.get("NNDSL_NNC_TOOL"), ROOT.parent / "shared" / "nnc-tools" / "nncd_console"):
        if candidate and (Path(candidate) / "nncd_console_cli_util").is_file():
            return Path(candidate)
    return None


def _comparable(network: dict) -> dict:
    """A network's record without its timing, each output's scale to 5 significant digits: a live run's
    float32 sums may differ in the last bits from the stored run's (another CPU, another BLAS)."""
    out = {k: v for k, v in network.items() if k != "nnabla_seconds"}
    out["outputs"] = [
        {**o, "scale": float(f"{o['scale']:.5g}")} if isinstance(o, dict) and "scale" in o else o
        for o in network.get("outputs", [])
    ]
    return out


def test_fixtures_equal_a_live_run(tmp_path):
    python, tool = _nnabla_python(), _nnc_tool()
    if python is None or tool is None:
        pytest.skip(f"needs nnabla ({python or 'not found'}) and NNC's tool ({tool or 'not found'})")
    done = subprocess.run(
        [str(python), str(ROOT / "tools" / "nnc_oracle_fixtures.py"), "--nnc-tool", str(tool), "--out", str(tmp_path)]
        + LIVE_STEMS,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    for stem in LIVE_STEMS:
        live, stored = oracle.load_case(stem, tmp_path), oracle.load_case(stem)
        assert [_comparable(n) for n in live.networks] == [_comparable(n) for n in stored.networks]
        assert live.meta["parameters"] == stored.meta["parameters"]
        assert sorted(live.outputs) == sorted(stored.outputs)
        for key, value in stored.outputs.items():
            np.testing.assert_allclose(live.outputs[key], value, rtol=1e-6, atol=1e-6)
