"""Templates shared by the backends: where they are, the Jinja environment, static files.

`templates/<backend>/` holds a backend's templates (`*.j2`, rendered) and its scripts
(`train.py`, `infer.py`, copied as they are); `templates/common/` the projects' ruff
configuration. The runtime the generated code imports is the package `nndsl/runtime`, copied
into each project as `nndsl_runtime/`: the modules the project's files import, directly or
through each other (`runtime_files`), never the other backend's.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator, Mapping
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


def runtime_files(backend: str, sources: Iterable[str]) -> dict[str, str]:
    """The runtime modules a project uses, `nndsl_runtime/...` -> text: those its own Python files
    (`sources`, their texts) import, and those these import in turn, with their packages'
    `__init__.py`; never the other backend's. Imports are read with `ast` wherever they stand
    (inside a function too), so a module imported only when needed ships as well."""
    root = runtime_dir()
    wanted: set[Path] = {root / "__init__.py"}
    todo = [(text, None) for text in sources]
    while todo:
        text, here = todo.pop()
        for path in _runtime_imports(text, here, root):
            if path in wanted or not path.is_file() or path.parent.name not in (root.name, backend):
                continue
            wanted.add(path)
            todo.append((path.read_text(encoding="utf-8"), path))
    for path in list(wanted):
        if path.parent != root:
            wanted.add(path.parent / "__init__.py")
    return {f"{RUNTIME}/{p.relative_to(root).as_posix()}": p.read_text(encoding="utf-8") for p in sorted(wanted)}


def _runtime_imports(text: str, here: Path | None, root: Path) -> Iterator[Path]:
    """The runtime files that the module `text` imports: absolute imports of `nndsl_runtime.*` from a
    project's file (`here` None), relative ones from a runtime module at `here`."""
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield from _module_files(root, alias.name, here=None)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                if here is None:
                    continue
                base = here.parent
                for _ in range(node.level - 1):
                    base = base.parent
                parts = [*base.relative_to(root.parent).parts, *(node.module or "").split(".")]
                dotted = ".".join(p for p in parts if p).replace(root.name, RUNTIME, 1)
            else:
                dotted = node.module or ""
            yield from _module_files(root, dotted, here)
            for alias in node.names:  # `from nndsl_runtime.torch import nnc`: a module too
                yield from _module_files(root, f"{dotted}.{alias.name}", here)


def _module_files(root: Path, dotted: str, here: Path | None) -> Iterator[Path]:
    parts = dotted.split(".")
    if parts[0] != RUNTIME:
        return
    path = root.joinpath(*parts[1:])
    yield path.with_suffix(".py") if parts[1:] else root / "__init__.py"
    yield path / "__init__.py"


def runtime_imports(imports: Mapping[str, str], backend: str) -> list[str]:
    """The backend's runtime modules a model imports, `nnc` (every model's) and those the printer
    recorded in `imports` (name -> statement), sorted: `from nndsl_runtime.<backend> import ...`."""
    own = {n for n, statement in imports.items() if statement == f"from {RUNTIME}.{backend} import {n}"}
    return sorted({"nnc"} | own)


def runtime_modules(files: Mapping[str, str]) -> list[tuple[str, str]]:
    """The runtime modules among a project's `files`, (path inside the package, the first paragraph
    of its docstring on one line), for the project's README."""
    out = []
    for name, text in sorted(files.items()):
        if name.startswith(f"{RUNTIME}/") and not name.endswith("__init__.py"):
            doc = (ast.get_docstring(ast.parse(text)) or "").split("\n\n")[0]
            out.append((name.removeprefix(f"{RUNTIME}/"), " ".join(doc.split())))
    return out


def static_files(backend: str, names: tuple[str, ...]) -> dict[str, str]:
    """The projects' ruff configuration and the backend's own `names` (its scripts), file name -> text."""
    files = {}
    files["ruff.toml"] = (templates_dir() / "common" / "ruff.toml").read_text(encoding="utf-8")
    for name in names:
        src = templates_dir() / backend / name
        if src.exists():
            files[name] = src.read_text(encoding="utf-8")
    return files
