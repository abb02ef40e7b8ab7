"""Read a spec and everything it includes.

`include "blocks.nnd"` is resolved against the including file's folder. Each file is
read once; a cycle is an error naming the whole chain. Unreadable files, binary junk and
empty files become positioned diagnostics.

Reading a spec never reads what the user did not point at (a spec linted in CI must not
print the CI's secrets) and never hangs:

- an include must stay inside the top-level spec's folder tree, or one of the folders the
  user allows with `--include-path DIR`, after following symbolic links (E0108);
- an included file must be a `.nnd` file (E0109), and nothing of a refused file is shown;
- only regular files are opened (a FIFO, `/dev/zero` are refused before they are opened,
  and a file is opened non-blocking and read with a size cap);
- includes nest at most `MAX_INCLUDE_DEPTH` files deep (E0110); symbolic-link loops are a
  read error (E0105).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from ..diagnostics import Reporter, Sources, Span, make
from ..syntax import ast
from ..syntax.parser import parse

MAX_FILE_BYTES = 64 * 1024 * 1024
MAX_INCLUDE_DEPTH = 100
SPEC_SUFFIX = ".nnd"


def read_source(path: Path, display: str, span: Span | None, reporter: Reporter, sources: Sources) -> str | None:
    """The text of a spec file, or None after reporting why it cannot be used."""
    try:
        info = os.stat(path)
        if stat.S_ISDIR(info.st_mode):
            reporter.error("E0105", span, path=display, reason="it is a folder")
            return None
        if not stat.S_ISREG(info.st_mode):
            reporter.error("E0105", span, path=display, reason="it is not a regular file")
            return None
        # Non-blocking: a file swapped for a FIFO after the check cannot hang the open.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
        with os.fdopen(fd, "rb") as f:
            if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
                reporter.error("E0105", span, path=display, reason="it is not a regular file")
                return None
            data = f.read(MAX_FILE_BYTES + 1)  # /proc files report size 0: cap the read itself
    except OSError as e:
        reporter.error("E0105", span, path=display, reason=e.strerror or str(e))
        return None
    except ValueError:  # a path with a NUL byte
        reporter.error("E0105", span, path=display, reason="the path is not valid")
        return None
    if len(data) > MAX_FILE_BYTES:
        reporter.error("E0105", span, path=display, reason=f"specs are limited to {MAX_FILE_BYTES:,} bytes")
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
    path: Path,
    display: str,
    reporter: Reporter,
    sources: Sources,
    text: str | None = None,
    include_paths: tuple[str | Path, ...] = (),
) -> list[ast.Module]:
    """The modules of `path` and its includes, included files first.

    Includes may read the folder tree of `path` and of each of `include_paths`.
    """
    roots = readable_roots(path, include_paths)
    modules: list[ast.Module] = []
    done: set[str] = set()
    # The files being read, outermost first: (real path, path, display name, module, includes left).
    stack: list[tuple[str, Path, str, ast.Module, list[ast.Include]]] = []

    def enter(p: Path, shown: str, span: Span | None, given: str | None) -> None:
        key = os.path.realpath(p)
        on_stack = [s[0] for s in stack]
        if key in on_stack:
            reporter.add(make("E0106", span, chain=" -> ".join([*[s[2] for s in stack], shown])))
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
        includes = [item for item in module.items if isinstance(item, ast.Include)]
        stack.append((key, p, shown, module, includes[::-1]))

    enter(path, display, None, text)
    while stack:
        _, p, _, module, pending = stack[-1]
        if not pending:
            stack.pop()
            modules.append(module)
            continue
        item = pending.pop()
        target = p.parent / item.path
        target_shown = _display(target)
        if not inside(target, roots):
            reporter.add(
                make(
                    "E0108",
                    item.span,
                    help="includes may read the spec's own folder tree; allow another folder with --include-path DIR",
                    path=item.path,
                )
            )
        elif not target.name.endswith(SPEC_SUFFIX):
            reporter.add(make("E0109", item.span, path=item.path))
        elif len(stack) >= MAX_INCLUDE_DEPTH:
            reporter.add(make("E0110", item.span, limit=MAX_INCLUDE_DEPTH))
        else:
            enter(target, target_shown, item.span, None)
    return modules


def readable_roots(path: Path, include_paths: tuple[str | Path, ...] = ()) -> list[Path]:
    """The folder trees nndsl may read for the spec `path`: its own folder's and the `--include-path` ones."""
    return [Path(os.path.realpath(path)).parent, *(Path(os.path.realpath(d)) for d in include_paths)]


def inside(target: Path, roots: list[Path]) -> bool:
    """Whether `target`, its symbolic links followed, lies in one of the `roots` trees."""
    real = Path(os.path.realpath(target))
    return any(real == root or root in real.parents for root in roots)


def _display(p: Path) -> str:
    try:
        return str(Path(os.path.realpath(p)).relative_to(Path.cwd()))
    except ValueError:
        return str(p)
