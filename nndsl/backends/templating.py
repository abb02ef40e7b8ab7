"""Templates shared by the backends: where they are, the Jinja environment, static files.

`templates/<backend>/` holds a backend's templates (`*.j2`, rendered) and its support
modules (copied as they are); `templates/common/` holds framework-free support modules
that every generated project ships (dataset reading, for one).
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


def static_files(backend: str, names: tuple[str, ...]) -> dict[str, str]:
    """The common support modules, the projects' ruff configuration and the backend's own `names`,
    file name -> text."""
    files = {}
    for src in sorted([*(templates_dir() / "common").glob("*.py"), templates_dir() / "common" / "ruff.toml"]):
        files[src.name] = src.read_text(encoding="utf-8")
    for name in names:
        src = templates_dir() / backend / name
        if src.exists():
            files[name] = src.read_text(encoding="utf-8")
    return files
