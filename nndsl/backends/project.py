"""A generated project's files, the same way for both backends: the rendered model, its
parameter table and configuration, the backend's scripts, the runtime modules all of these
import (`templating.runtime_files`), and a README that lists them."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

from ..ir import Project
from .project_config import config_text
from .templating import runtime_files, runtime_modules, static_files
from .toplevel import PARAMETERS_FILE

# The scripts copied into every generated project as they are (beside the runtime package, nndsl_runtime/).
STATIC = ("train.py", "infer.py")


def project_files(backend: str, render: ModuleType, project: Project, out: str | Path) -> dict[str, str]:
    """The project `render` (a backend's render module) generates, file name -> text (`out` locates the
    datasets relatively)."""
    m = render.build(project)
    files = {
        "model.py": render.render_model(project, m),
        PARAMETERS_FILE: render.render_parameters(project, m),
        "config.json": config_text(project, out),
    }
    scripts = static_files(backend, STATIC)
    runtime = runtime_files(backend, [text for name, text in {**files, **scripts}.items() if name.endswith(".py")])
    files["README.md"] = render.render_readme(project, m, runtime_modules(runtime))
    return {**files, **runtime, **scripts}
