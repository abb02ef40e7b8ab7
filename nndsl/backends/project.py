"""A generated project's files, the same way for both backends: the rendered model, its
parameter table and configuration, the backend's scripts, the runtime modules all of these
import (`templating.runtime_files`), and a README that lists them."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

from ..ir import Project
from .builder import ModelRender
from .naming import shown
from .project_config import config_text
from .templating import environment, runtime_files, runtime_modules, static_files
from .toplevel import PARAMETERS_FILE, main_model, main_reason, parameters_json

# The scripts copied into every generated project as they are (beside the runtime package, nndsl_runtime/).
STATIC = ("train.py", "infer.py")


def project_files(backend: str, render: ModuleType, project: Project, out: str | Path) -> dict[str, str]:
    """The project `render` (a backend's render module: `build`, `render_model`) generates, file name ->
    text (`out` locates the datasets relatively). The parameter table, the README and the rest are
    the same code for both backends."""
    m = render.build(project)
    files = {
        "model.py": render.render_model(project, m),
        PARAMETERS_FILE: parameters_json(m, backend),
        "config.json": config_text(project, out),
    }
    scripts = static_files(backend, STATIC)
    runtime = runtime_files(backend, [text for name, text in {**files, **scripts}.items() if name.endswith(".py")])
    files["README.md"] = readme(backend, project, m, runtime_modules(runtime))
    return {**files, **runtime, **scripts}


def readme(backend: str, project: Project, m: ModelRender, runtime: list[tuple[str, str]]) -> str:
    """The project's README; `runtime` is the runtime modules it ships, (path, what it is)."""
    return (
        environment(backend)
        .get_template("README.md.j2")
        .render(
            spec=shown(Path(project.path).name),
            runtime=runtime,
            networks=m.networks,
            main=main_model(project, m),
            main_why=main_reason(project),
        )
    )
