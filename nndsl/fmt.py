"""`nndsl fmt`: print a syntax tree back as canonical .nnd text.

The canonical form: 4-space indentation; one blank line between top-level items and at
most one kept between statements where the author left one; `name=value` in calls and
`name = value` in settings; chains on one line when they fit in 100 columns, otherwise
broken before every `->`, and a call that still does not fit wrapped as black wraps calls
(one argument per line, each with a trailing comma, `)` on a line of its own), as are a list
(one item per line: a configuration table's rows) and a unit's parameters; numbers as
written; parentheses only where precedence needs them. Comments are kept: a comment on a
line of its own stays before what follows it, a comment at the end of a statement's last
line stays at its end, and a comment inside a multi-line statement moves to just before
that statement.

The output re-parses to the same IR (a test checks this on every spec) and formatting
is idempotent.
"""

from __future__ import annotations

import json

from .limits import stack_room
from .syntax import ast

WIDTH = 100
INDENT = "    "

_PREC = {"or": 1, "and": 2, "not": 3, "==": 4, "!=": 4, "<": 4, "<=": 4, ">": 4, ">=": 4}
_PREC.update({"+": 5, "-": 5, "*": 6, "/": 6, "//": 6, "%": 6})
_UNARY_PREC = 7
_ATOM = 8


def format_module(module: ast.Module) -> str:
    with stack_room():
        return _Printer(module).run()


def _block_ranges(node) -> list[tuple[int, int]]:
    """Line ranges of the block-form repeat bodies inside a statement or expression."""
    out: list[tuple[int, int]] = []
    stack = [node]
    while stack:
        n = stack.pop()
        if isinstance(n, ast.Repeat) and n.body is not None:
            out.append((n.span.line + 1, n.span.end_line))
        if isinstance(n, ast.Assign | ast.Setting):
            stack.append(n.value)
        elif isinstance(n, ast.Out):
            stack.extend(n.values)
        elif isinstance(n, ast.Chain):
            stack.extend((n.head, *n.stages))
        elif isinstance(n, ast.Repeat):
            stack.extend(n.stages or ())
        elif isinstance(n, ast.Call):
            stack.extend((*n.args, *(k.value for k in n.kwargs)))
    return out


def _grouped(a: ast.Item, b: ast.Item, printed_one_line: bool) -> bool:
    """Consecutive includes, and consecutive one-line datasets, stay together. A dataset is
    one-line if it is written so and stays so once printed (one too long for a line becomes
    a block, which a blank line separates: the printed form decides, so fmt is idempotent)."""
    if isinstance(a, ast.Include) and isinstance(b, ast.Include):
        return True
    one_line = all(isinstance(x, ast.Dataset) and x.span.line == x.span.end_line for x in (a, b))
    return one_line and printed_one_line and b.span.line - a.span.end_line == 1


def _string(s: str) -> str:
    return json.dumps(s, ensure_ascii=False)


class _Printer:
    def __init__(self, module: ast.Module):
        self.module = module
        self.comments = list(module.comments)
        self.out: list[str] = []
        self._flat = 0  # > 0 while printing a call's arguments on one line

    # --- comments ---------------------------------------------------------------------------

    def _leading(self, before_line: int, indent: str) -> bool:
        """Emit comments that stand before `before_line`; True if any were emitted. A blank
        line the author left after a comment (before the next comment or the code) stays."""
        emitted = False
        while self.comments and self.comments[0].line < before_line:
            c = self.comments.pop(0)
            self.out.append(f"{indent}{c.text.rstrip()}")
            emitted = True
            following = self.comments[0].line if self.comments and self.comments[0].line < before_line else before_line
            if following - c.line > 1:
                self.out.append("")
        return emitted

    def _inner(self, first: int, last: int, indent: str, nested: list[tuple[int, int]] = ()) -> None:
        """Comments inside a multi-line construct (lines first..last-1) go before it, except
        those in `nested` line ranges (block bodies, which place their own comments)."""
        keep = []
        for c in self.comments:
            if first <= c.line < last and not any(a <= c.line <= b for a, b in nested):
                self.out.append(f"{indent}{c.text.rstrip()}")
            else:
                keep.append(c)
        self.comments = keep

    def _trailing(self, line: int) -> None:
        if self.comments and self.comments[0].line == line:
            c = self.comments.pop(0)
            self.out[-1] += f"  {c.text.rstrip()}"

    # --- items ------------------------------------------------------------------------------

    def run(self) -> str:
        prev, prev_lines = None, 0
        for item in self.module.items:
            mark = len(self.out)
            self._leading(item.span.line, "")
            start = len(self.out)
            self._item(item)
            lines = len(self.out) - start
            if prev is not None and not _grouped(prev, item, prev_lines == 1 and lines == 1):
                self.out.insert(mark, "")
            prev, prev_lines = item, lines
        if self.comments:
            if self.out:
                self.out.append("")
            for c in self.comments:
                self.out.append(c.text.rstrip())
        return "\n".join(self.out).rstrip("\n") + "\n" if self.out else ""

    def _item(self, item: ast.Item) -> None:
        if isinstance(item, ast.Include):
            self.out.append(f"include {_string(item.path)}")
            self._trailing(item.span.line)
        elif isinstance(item, ast.Unit):
            params = f"({', '.join(self._unit_param(p) for p in item.params)})" if item.params else ""
            head = f"unit {item.name}{params}"
            if len(head) + 2 > WIDTH and item.params:
                # wrapped as black wraps a def: one parameter per line, each with a comma; a comment
                # inside the header (or on its first line) moves before the unit
                self._inner(item.span.line, max(p.span.end_line for p in item.params) + 1, "")
                lines = [f"unit {item.name}("]
                lines += [f"{INDENT}{self._unit_param(p, len(INDENT))}," for p in item.params]
                head = "\n".join([*lines, ")"])
            self._header_block(head, item.span, item.body, "")
        elif isinstance(item, ast.Network):
            self._header_block(f"network {item.name}", item.span, item.body, "")
        elif isinstance(item, ast.DerivedNetwork):
            head = f"network {item.name} = {item.base} with"
            overrides = [f"{'.'.join(o.path)} = {self._expr(o.value, 0, '')}" for o in item.overrides]
            one = f"{head} {{ {', '.join(overrides)} }}" if overrides else f"{head} {{}}"
            if len(one) <= WIDTH and item.span.line == item.span.end_line:
                self.out.append(one)
                self._trailing(item.span.line)
            else:
                self.out.append(f"{head} {{")
                self._trailing(item.span.line)
                for o, text in zip(item.overrides, overrides, strict=True):
                    self._leading(o.span.line, INDENT)
                    self.out.append(INDENT + text)
                    self._trailing(o.span.end_line)
                self._leading(item.span.end_line, INDENT)
                self.out.append("}")
                self._trailing(item.span.end_line)
        elif isinstance(item, ast.Dataset):
            head = f"dataset {item.name} = {_string(item.uri)}"
            if item.settings:
                section = ast.Section("", None, item.settings, item.span, item.span)
                one = self._one_line_section(head, section, "")
                if one is None:
                    self._settings_block(head, item.settings, item.span, "")
                else:
                    self.out.append(one)
                    self._trailing(item.span.line)
            else:
                self.out.append(head)
                self._trailing(item.span.line)
        elif isinstance(item, ast.Config):
            self._settings_block("config", item.settings, item.span, "")

    def _unit_param(self, p: ast.UnitParam, prefix: int = 0) -> str:
        """`name: type = default`; where it starts at column `prefix` (> 0: on a line of its own), a
        default list that does not fit is wrapped."""
        if p.default is None:
            return f"{p.name}: {p.type}"
        head = f"{p.name}: {p.type} = "
        return head + self._expr(p.default, 0, " " * prefix, prefix + len(head) if prefix else 0)

    def _header_block(self, head: str, span, body: tuple[ast.Stmt, ...], indent: str) -> None:
        *first, last = head.split("\n")
        self.out.extend(f"{indent}{line}" for line in first)
        self.out.append(f"{indent}{last} {{")
        self._trailing(span.line)
        self._stmts(body, indent + INDENT)
        self._leading(span.end_line, indent + INDENT)
        self.out.append(f"{indent}}}")
        self._trailing(span.end_line)

    # --- statements ---------------------------------------------------------------------------

    def _stmts(self, body: tuple[ast.Stmt, ...], indent: str) -> None:
        prev_end = None
        for stmt in body:
            start = stmt.span.line
            first_comment = self.comments[0].line if self.comments and self.comments[0].line < start else start
            if prev_end is not None and first_comment - prev_end > 1:
                self.out.append("")
            self._leading(start, indent)
            self._stmt(stmt, indent)
            prev_end = stmt.span.end_line

    def _stmt(self, stmt: ast.Stmt, indent: str) -> None:
        if isinstance(stmt, ast.If):
            self._if(stmt, indent)
            return
        # (a comment on the first line of a multi-line statement moves before it too)
        self._inner(stmt.span.line, stmt.span.end_line, indent, _block_ranges(stmt))
        if isinstance(stmt, ast.In):
            text = "in " + ", ".join(n.id for n in stmt.names)
        elif isinstance(stmt, ast.Out):
            prefix = len(indent) + 4 if len(stmt.values) == 1 else 0
            text = "out " + ", ".join(self._expr(v, 0, indent, prefix) for v in stmt.values)
        else:
            lhs = ", ".join(t.id for t in stmt.targets)
            text = f"{lhs} = " + self._expr(stmt.value, 0, indent, prefix=len(indent) + len(lhs) + 3)
        self.out.extend(f"{indent}{line}" if i == 0 else line for i, line in enumerate(text.split("\n")))
        self._trailing(stmt.span.end_line)

    def _if(self, stmt: ast.If, indent: str, prefix: str = "") -> None:
        cond = self._expr(stmt.cond, 0, indent)
        self.out.append(f"{indent}{prefix}if {cond} {{")
        self._trailing(stmt.span.line)
        self._stmts(stmt.then, indent + INDENT)
        if stmt.orelse is None:
            self._leading(stmt.span.end_line, indent + INDENT)
            self.out.append(f"{indent}}}")
            self._trailing(stmt.span.end_line)
            return
        if stmt.elif_:
            inner = stmt.orelse[0]
            assert isinstance(inner, ast.If)
            self._leading(inner.span.line, indent + INDENT)
            self.out.append(f"{indent}}} else ")
            last = self.out.pop()
            self._if_continued(inner, indent, last)
            return
        first = stmt.orelse[0].span.line if stmt.orelse else stmt.span.end_line
        self._leading(first - 1 if stmt.orelse else stmt.span.end_line, indent + INDENT)
        self.out.append(f"{indent}}} else {{")
        self._stmts(stmt.orelse, indent + INDENT)
        self._leading(stmt.span.end_line, indent + INDENT)
        self.out.append(f"{indent}}}")
        self._trailing(stmt.span.end_line)

    def _if_continued(self, stmt: ast.If, indent: str, head: str) -> None:
        while True:  # an else-if chain in a loop: any number of branches (nndsl/limits.py)
            cond = self._expr(stmt.cond, 0, indent)
            self.out.append(f"{head}if {cond} {{")
            self._trailing(stmt.span.line)
            self._stmts(stmt.then, indent + INDENT)
            if not stmt.elif_:
                break
            stmt, head = stmt.orelse[0], f"{indent}}} else "
        if stmt.orelse is None:
            self._leading(stmt.span.end_line, indent + INDENT)
            self.out.append(f"{indent}}}")
            self._trailing(stmt.span.end_line)
        else:
            self.out.append(f"{indent}}} else {{")
            self._stmts(stmt.orelse, indent + INDENT)
            self._leading(stmt.span.end_line, indent + INDENT)
            self.out.append(f"{indent}}}")
            self._trailing(stmt.span.end_line)

    # --- settings ----------------------------------------------------------------------------------

    def _settings_block(self, head: str, settings, span, indent: str) -> None:
        self.out.append(f"{indent}{head} {{")
        self._trailing(span.line)
        inner = indent + INDENT
        prev_end = None
        for s in settings:
            if (
                prev_end is not None
                and s.span.line - prev_end > 1
                and not (
                    self.comments and self.comments[0].line < s.span.line and self.comments[0].line - prev_end <= 1
                )
            ):
                self.out.append("")
            self._leading(s.span.line, inner)
            if isinstance(s, ast.Section):
                name = f" {s.name}" if s.name else ""
                one = self._one_line_section(f"{s.kind}{name}", s, inner)
                if one is None:
                    self._settings_block(f"{s.kind}{name}", s.settings, s.span, inner)
                else:
                    self.out.append(one)
                    self._trailing(s.span.end_line)
            else:
                self._inner(s.span.line + 1, s.span.end_line, inner)
                self.out.append(f"{inner}{s.key} = {self._expr(s.value, 0, inner)}")
                self._trailing(s.span.end_line)
            prev_end = s.span.end_line
        self._leading(span.end_line, inner)
        self.out.append(f"{indent}}}")
        self._trailing(span.end_line)

    def _one_line_section(self, head: str, s: ast.Section, indent: str) -> str | None:
        """`monitor m { network = V, dataset = v }` stays on one line if written so and it fits."""
        if s.span.line != s.span.end_line or any(isinstance(x, ast.Section) for x in s.settings):
            return None
        body = ", ".join(f"{x.key} = {self._expr(x.value, 0, indent)}" for x in s.settings)
        line = f"{indent}{head} {{ {body} }}" if body else f"{indent}{head} {{}}"
        return line if len(line) <= WIDTH else None

    # --- expressions ----------------------------------------------------------------------------------

    def _expr(self, e: ast.Expr, min_prec: int, indent: str, prefix: int = 0) -> str:
        text, prec = self._expr_prec(e, indent, prefix)
        return f"({text})" if prec < min_prec else text

    def _expr_prec(self, e: ast.Expr, indent: str, prefix: int = 0) -> tuple[str, int]:
        if isinstance(e, ast.Num):
            return e.text, _ATOM
        if isinstance(e, ast.Str):
            return _string(e.value), _ATOM
        if isinstance(e, ast.Bool):
            return ("true" if e.value else "false"), _ATOM
        if isinstance(e, ast.ShapeLit):
            return "x".join(map(str, e.dims)), _ATOM
        if isinstance(e, ast.Duration):
            return f"{e.value} {e.unit}", _ATOM
        if isinstance(e, ast.Name):
            return e.id, _ATOM
        if isinstance(e, ast.ListLit):
            return self._list(e, indent, prefix), _ATOM
        if isinstance(e, ast.Index):
            return f"{self._expr(e.value, _ATOM, indent)}[{self._expr(e.index, 0, indent)}]", _ATOM
        if isinstance(e, ast.Slicing):
            items = ", ".join(self._subscript(x, indent) for x in e.items)
            return f"{self._expr(e.value, _ATOM, indent)}[{items}]", _ATOM
        if isinstance(e, ast.Attr):  # `(3).shape`: `3.` would be a number
            value = self._expr(e.value, _ATOM, indent)
            return f"({value}).{e.name}" if isinstance(e.value, ast.Num) else f"{value}.{e.name}", _ATOM
        if isinstance(e, ast.Unary):
            if e.op == "not":
                return "not " + self._expr(e.operand, _PREC["not"], indent), _PREC["not"]
            return e.op + self._expr(e.operand, _UNARY_PREC, indent), _UNARY_PREC
        if isinstance(e, ast.Binary):
            # A run of operators (`1 + 2 + ... + n`) is printed in a loop: its length never
            # deepens the recursion (nndsl/limits.py).
            run = []
            while isinstance(e, ast.Binary):
                run.append(e)
                e = e.left
            text, prec = self._expr_prec(e, indent)
            parts, opened = [text], 0  # each "(" needed opens at the very start
            for b in reversed(run):
                p = _PREC[b.op]
                if prec < p:
                    parts.append(")")
                    opened += 1
                parts.append(f" {b.op} {self._expr(b.right, p + 1, indent)}")
                prec = p
            return "(" * opened + "".join(parts), prec
        if isinstance(e, ast.Call):
            return self._call(e, indent, prefix), _ATOM
        if isinstance(e, ast.Repeat):
            return self._repeat(e, indent), _ATOM
        if isinstance(e, ast.Chain):
            head = self._expr(e.head, 1, indent)
            stages = [self._stage(s, indent) for s in e.stages]
            one = " -> ".join([head, *stages])
            if "\n" not in one and prefix + len(one) <= WIDTH:
                return one, 0
            cont = indent + INDENT
            # a call too long for its line is wrapped (printed again: it has no block, whose comments
            # printing takes)
            if isinstance(e.head, ast.Call) and "\n" not in head and prefix + len(head) > WIDTH:
                head = self._call(e.head, indent, prefix)
            lines = [head]
            for stage, s in zip(e.stages, stages, strict=True):
                if isinstance(stage, ast.Call) and "\n" not in s and len(cont) + 3 + len(s) > WIDTH:
                    s = self._call(stage, indent, len(cont) + 3)
                lines.append(f"{cont}-> {s}" if "\n" not in s else f"{cont}-> " + s.replace("\n", "\n" + INDENT))
            return "\n".join(lines), 0
        raise AssertionError(e)

    def _list(self, e: ast.ListLit, indent: str, prefix: int) -> str:
        """A list on one line; where it starts at column `prefix` (0: inside a one-line construct,
        never wrapped) and does not fit in WIDTH, one item per line one level deeper than `indent`,
        each with a comma, `]` on its own line (a configuration table, a row per line)."""
        self._flat += 1
        try:
            one = "[" + ", ".join(self._expr(x, 0, indent) for x in e.items) + "]"
        finally:
            self._flat -= 1
        if not prefix or self._flat or not e.items or "\n" in one or prefix + len(one) <= WIDTH:
            return one
        inner = indent + INDENT
        lines = ["[", *(f"{inner}{self._expr(x, 0, inner, len(inner))}," for x in e.items), f"{indent}]"]
        return "\n".join(lines)

    def _subscript(self, x: ast.Expr | ast.SliceItem, indent: str) -> str:
        """An item of `x[...]`: an expression, or a slice `a:b:c` with its parts left out as written."""
        if not isinstance(x, ast.SliceItem):
            return self._expr(x, 0, indent)
        start, stop = ("" if v is None else self._expr(v, 0, indent) for v in (x.start, x.stop))
        return f"{start}:{stop}" if x.step is None else f"{start}:{stop}:{self._expr(x.step, 0, indent)}"

    def _stage(self, s: ast.Stage, indent: str, prefix: int | None = None) -> str:
        return self._repeat(s, indent) if isinstance(s, ast.Repeat) else self._call(s, indent, prefix)

    def _call(self, c: ast.Call, indent: str, prefix: int | None = None) -> str:
        """A call on one line; where it starts at column `prefix` (None: inside a one-line
        construct, never wrapped) and does not fit in WIDTH, wrapped as black wraps calls: one
        argument per line one level deeper than `indent`, each with a comma, `)` on its own line."""
        label = f"{c.label}: " if c.label else ""
        tap = "".join(f".{part}" for part in c.tap)  # `net: ResNet18(x).pool`
        if c.bare:
            return f"{label}{c.callee}{tap}"
        self._flat += 1  # the arguments on one line: no call inside is wrapped
        try:
            args = [self._expr(a, 0, indent) for a in c.args]
            args += [f"{k.name}={self._expr(k.value, 0, indent)}" for k in c.kwargs]
        finally:
            self._flat -= 1
        one = f"{label}{c.callee}({', '.join(args)}){tap}"
        if prefix is None or self._flat or not args or "\n" in one or prefix + len(one) <= WIDTH:
            return one
        inner = indent + INDENT
        lines = [f"{label}{c.callee}("]
        lines += [f"{inner}{self._expr(a, 0, inner, len(inner))}," for a in c.args]
        lines += [f"{inner}{k.name}={self._expr(k.value, 0, inner, len(inner) + len(k.name) + 1)}," for k in c.kwargs]
        lines.append(f"{indent}){tap}")
        return "\n".join(lines)

    def _repeat(self, r: ast.Repeat, indent: str) -> str:
        label = f"{r.label}: " if r.label else ""
        var = f"{r.index}, {r.var} in " if r.index else f"{r.var} in " if r.var else ""
        head = f"{label}repeat {var}{self._expr(r.count, 1, indent)}"
        if r.stages is not None:
            body = " -> ".join(self._stage(s, indent) for s in r.stages)
            return f"{head} {{ {body} }}"
        assert r.body is not None
        saved = self.out
        self.out = []
        self._stmts(r.body, indent + INDENT)
        lines = self.out
        self.out = saved
        return f"{head} {{\n" + "\n".join(lines) + f"\n{indent}}}"
