"""The PyTorch backend: writes a self-contained PyTorch project for a spec."""

from __future__ import annotations

from pathlib import Path

from ...ir import Project
from ..output import write_project
from ..project_config import config_text
from ..templating import static_files
from ..toplevel import PARAMETERS_FILE
from .render import build, render_model, render_parameters, render_readme

__all__ = ["generate", "project_files"]

# The scripts copied into every generated project as they are (beside the runtime package, nndsl_runtime/).
STATIC = ("train.py", "infer.py")


def project_files(project: Project, out: str | Path) -> dict[str, str]:
    """The generated project, file name -> text (`out` locates the datasets relatively)."""
    m = build(project)
    files = {
        "model.py": render_model(project, m),
        PARAMETERS_FILE: render_parameters(project, m),
        "config.json": config_text(project, out),
        "README.md": render_readme(project, m),
    }
    files.update(static_files("torch", STATIC))
    return files


def generate(project: Project, out: str | Path, force: bool = False) -> list[Path]:
    """Write the project into `out` (see `nndsl.backends.output` for what is never overwritten)."""
    return write_project(out, project_files(project, out), force)
