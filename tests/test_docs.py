"""Documentation generated from code stays in step with it."""

from conftest import ROOT

from nndsl.layers.docs import markdown


def test_layer_table_is_generated_from_the_registry():
    assert (ROOT / "docs" / "layers.md").read_text(encoding="utf-8") == markdown(), (
        "docs/layers.md is stale: run `python -m nndsl.layers.docs > docs/layers.md`"
    )


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    command = next(line.strip() for line in readme.splitlines() if "pytest" in line and line.startswith("    "))
    assert command in ci
