"""The runtime's optimizer classes show nnabla's defaults in their signatures, as a person writing
`Adam(params, lr=1e-3, beta1=0.9, ...)` would; `nnc_solvers.SOLVER_DEFAULTS` is the table the
compiler and `make_solver` read. These tests keep every signature's defaults equal to the table,
so the two cannot drift apart."""

from __future__ import annotations

import inspect

import pytest

from nndsl.runtime.nnc_solvers import SOLVER_DEFAULTS


def _defaults(fn) -> dict:
    return {
        name: p.default
        for name, p in inspect.signature(fn).parameters.items()
        if p.default is not inspect.Parameter.empty
    }


def _check(solver: str, found: dict, rename: dict[str, str]) -> None:
    table = {k: v for k, v in SOLVER_DEFAULTS[solver].items() if v is not None}
    shown = {k: found[rename.get(k, k)] for k in table if rename.get(k, k) in found}
    # every hyper-parameter of the table with a value is a defaulted argument of the class, with its value
    assert shown.keys() == table.keys(), (solver, sorted(table.keys() - shown.keys()))
    assert shown == table, solver


@pytest.mark.parametrize("solver", sorted(SOLVER_DEFAULTS))
def test_torch_solver_signatures_show_nnablas_defaults(solver):
    from nndsl.runtime.torch import solvers

    make = solvers._SOLVERS[solver]
    if make.__name__ == "<lambda>":
        # torch's own optimizer, given every value by make_solver: its arguments have no defaults to drift
        assert not _defaults(make), solver
        return
    _check(solver, _defaults(make), {})


@pytest.mark.parametrize("solver", sorted(SOLVER_DEFAULTS))
def test_keras_solver_signatures_show_nnablas_defaults(solver):
    from nndsl.runtime.keras import solvers

    cls = solvers._SOLVERS[solver][0]
    _check(solver, _defaults(cls.__init__), {"lr": "learning_rate"})
