"""The learning rates a generated project trains with are nnabla's, for every NNC config case.

The fixtures (tools/nnc_config_fixtures.py) hold, for each optimizer of each case, the learning
rate nnabla's own scheduler gives (nnabla.utils.load._create_optimizer on the nntxt NNC's
create_prototxt made, LinearWarmupScheduler included) at iterations around every boundary of
the schedule. Here the imported, compiled config drives the PyTorch runtime's make_schedule
(nndsl/runtime/torch/solvers.py), as train.py calls it; the Keras runtime's make_schedule equals the
PyTorch one at every iteration (tests/keras/test_solvers.py).
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from nnc_config_cases import case_names, compile_config, import_case, load_case, referenced_networks

pytest.importorskip("torch")

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def torch_solvers(tmp_path_factory):
    from nndsl.runtime.torch import solvers

    return solvers


@pytest.mark.parametrize("name", case_names())
def test_learning_rates_are_nnablas(name, torch_solvers):
    case = load_case(name)
    project, text, _ = import_case(case, name)
    config = compile_config(text, referenced_networks(project), name).config
    nntxt = case["nntxt"]
    ipe = int(nntxt["training_config"].get("iter_per_epoch", 0)) or 1
    total = config.max_epoch * ipe
    expected = nntxt["nnabla_lr"]
    assert list(expected) == [o.name for o in config.optimizers]
    for o in config.optimizers:
        reference = expected[o.name]
        if isinstance(reference, str):  # nnabla refuses NNC's "Linear": the exported Polynomial 1 is the reference
            assert name == "variant_linear" and "not supported" in reference
            reference = case["exported_nntxt"]["nnabla_lr"][o.name]
        base_lr = o.solver.params["lr"]
        params = dict(o.schedule.params)
        if o.schedule.warmup:
            params["warmup"] = o.schedule.warmup
        schedule = torch_solvers.make_schedule(o.schedule.type, params, ipe, total, base_lr)
        for iteration, lr in reference:
            if iteration >= total:  # training ends at total - 1 (nnabla's cosine would rise again after)
                continue
            got = schedule.lr(iteration)
            assert math.isclose(got, lr, rel_tol=1e-6, abs_tol=1e-12), f"{o.name} at {iteration}: {got} != {lr}"
