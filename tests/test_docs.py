"""Documentation generated from code stays in step with it."""

from conftest import ROOT

from nndsl.layers.docs import markdown


def test_layer_table_is_generated_from_the_registry():
    assert (ROOT / "docs" / "layers.md").read_text(encoding="utf-8") == markdown(), (
        "docs/layers.md is stale: run `python -m nndsl.layers.docs > docs/layers.md`"
    )


def test_nnc_table_matches_the_shared_layer_defaults():
    """nndsl/layers/nnc_table.py is generated from NNC's layer_defaults.txt."""
    import importlib.util

    src = ROOT.parent / "shared" / "nnc-samples" / "layer_defaults.txt"
    if not src.exists():
        import pytest

        pytest.skip("../shared is not beside this checkout")
    spec = importlib.util.spec_from_file_location("gen", ROOT / "tools" / "gen_nnc_table.py")
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    from nndsl.layers.nnc_table import NNC_LAYERS

    assert gen.parse(src.read_text(encoding="utf-8")) == NNC_LAYERS


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    command = next(line.strip() for line in readme.splitlines() if "pytest" in line and line.startswith("    "))
    assert command in ci
