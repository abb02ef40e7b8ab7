"""Templates shared by the backends: where they are, the Jinja environment, static files.

`templates/<backend>/` holds a backend's templates (`*.j2`, rendered) and its scripts
(`train.py`, `infer.py`, copied as they are); `templates/common/` the projects' ruff
configuration. The runtime the generated code imports is the package `nndsl/runtime`, copied
into each project as `nndsl_runtime/` with the shared modules and that backend's own.
"""

from __future__ import annotations

from pathlib import Path

import jinja2

from .naming import literal
from .pyformat import fit


def templates_dir() -> Path:
    """Templates ship inside the wheel (nndsl/templates); a checkout has them at the top."""
    here = Path(__file__).resolve().parents[1]
    for candidate in (here / "templates", here.parent / "templates"):
        if (candidate / "common").is_dir():
            return candidate
    raise FileNotFoundError("templates/ not found next to the nndsl package")


def environment(backend: str) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir() / backend)),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["literal"] = literal
    env.filters["fit"] = fit
    env.filters["literal_list"] = lambda items: "[" + ", ".join(literal(i) for i in items) + "]"
    return env


RUNTIME = "nndsl_runtime"  # the runtime package's name inside a generated project


def runtime_dir() -> Path:
    """The runtime package developed in this repository (`nndsl.runtime`), found without importing it."""
    return Path(__file__).resolve().parents[1] / "runtime"


def runtime_files(backend: str) -> dict[str, str]:
    """The runtime package as a project ships it, `nndsl_runtime/...` -> text: its framework-free
    modules shared by both backends and `backend`'s own subpackage, not the other backend's."""
    root = runtime_dir()
    sources = [*sorted(root.glob("*.py")), *sorted((root / backend).glob("*.py"))]
    return {f"{RUNTIME}/{src.relative_to(root).as_posix()}": src.read_text(encoding="utf-8") for src in sources}


def static_files(backend: str, names: tuple[str, ...]) -> dict[str, str]:
    """The runtime package, the projects' ruff configuration and the backend's own `names` (its
    scripts), file name -> text."""
    files = runtime_files(backend)
    files["ruff.toml"] = (templates_dir() / "common" / "ruff.toml").read_text(encoding="utf-8")
    for name in names:
        src = templates_dir() / backend / name
        if src.exists():
            files[name] = src.read_text(encoding="utf-8")
    return files
