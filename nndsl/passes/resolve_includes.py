"""Read a spec and everything it includes.

`include "blocks.nnd"` is resolved against the including file's folder. Each file is
read once; a cycle is an error naming the whole chain. Unreadable files, binary junk and
empty files become positioned diagnostics.
"""

from __future__ import annotations

from pathlib import Path

from ..diagnostics import Reporter, Sources, Span, make
from ..syntax import ast
from ..syntax.parser import parse

MAX_FILE_BYTES = 64 * 1024 * 1024


def read_source(path: Path, display: str, span: Span | None, reporter: Reporter, sources: Sources) -> str | None:
    """The text of a spec file, or None after reporting why it cannot be used."""
    try:
        if path.is_dir():
            reporter.error("E0105", span, path=display, reason="it is a folder")
            return None
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            reporter.error(
                "E0105", span, path=display, reason=f"it is {size:,} bytes; specs are limited to {MAX_FILE_BYTES:,}"
            )
            return None
        data = path.read_bytes()
    except OSError as e:
        reporter.error("E0105", span, path=display, reason=e.strerror or str(e))
        return None
    if b"\x00" in data:
        reporter.error("E0104", Span(display, 1, 1, 1, 2), reason="it contains NUL bytes")
        return None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        col = e.start - (data.rfind(b"\n", 0, e.start) + 1) + 1
        reporter.error(
            "E0104", Span(display, line, col, line, col + 1), reason=f"byte 0x{data[e.start]:02x} is not UTF-8"
        )
        return None
    sources.add(display, text)
    return text


def resolve_includes(
    path: Path, display: str, reporter: Reporter, sources: Sources, text: str | None = None
) -> list[ast.Module]:
    """The modules of `path` and its includes, included files first."""
    modules: list[ast.Module] = []
    done: set[Path] = set()

    def visit(p: Path, shown: str, span: Span | None, chain: list[str], given: str | None) -> None:
        key = p.resolve()
        if shown in chain or key in {Path(c).resolve() for c in chain}:
            reporter.add(make("E0106", span, chain=" -> ".join([*chain, shown])))
            return
        if key in done:
            return
        done.add(key)
        src = given if given is not None else read_source(p, shown, span, reporter, sources)
        if src is None:
            return
        if given is not None:
            sources.add(shown, src)
        module, diags = parse(src, shown)
        for d in diags:
            reporter.add(d)
        if not module.items and not diags:
            reporter.add(make("E0107", Span(shown, 1, 1, 1, 2)))
        for item in module.items:
            if isinstance(item, ast.Include):
                target = p.parent / item.path
                target_shown = _display(target)
                visit(target, target_shown, item.span, [*chain, shown], None)
        modules.append(module)

    visit(path, display, None, [], text)
    return modules


def _display(p: Path) -> str:
    try:
        return str(p.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(p)
