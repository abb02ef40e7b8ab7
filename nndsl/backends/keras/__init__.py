"""The Keras backend: writes a self-contained Keras 3 (TensorFlow) project for a spec."""

from __future__ import annotations

from pathlib import Path

from ...ir import Project
from ..output import write_project
from ..project import STATIC
from ..project import project_files as _project_files
from . import render

__all__ = ["STATIC", "generate", "project_files"]


def project_files(project: Project, out: str | Path) -> dict[str, str]:
    """The generated project, file name -> text (`out` locates the datasets relatively)."""
    return _project_files("keras", render, project, out)


def generate(project: Project, out: str | Path, force: bool = False) -> list[Path]:
    """Write the project into `out` (see `nndsl.backends.output` for what is never overwritten)."""
    return write_project(out, project_files(project, out), force)
