"""The PyTorch backend: writes a self-contained PyTorch project for a spec."""

from __future__ import annotations

import shutil
from pathlib import Path

from ...ir import Project
from ..project_config import write_project_config
from .render import render_model, render_readme, templates_dir

# Support modules copied into every generated project as they are.
STATIC = ("nnc.py", "data.py", "train.py", "infer.py")


def generate(project: Project, out: str | Path) -> list[Path]:
    """Write the project's files into `out`; returns the paths written."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    model = out / "model.py"
    model.write_text(render_model(project), encoding="utf-8")
    written.append(model)
    written.append(write_project_config(project, out))
    readme = out / "README.md"
    readme.write_text(render_readme(project), encoding="utf-8")
    written.append(readme)
    for name in STATIC:
        src = templates_dir() / "torch" / name
        if src.exists():
            written.append(Path(shutil.copyfile(src, out / name)))
    return written
