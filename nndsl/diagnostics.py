"""One Diagnostic type, one message table, one renderer.

Every problem nndsl reports is a `Diagnostic` with a stable code from `MESSAGES`
(documented in docs/diagnostics.md; a test keeps the two in step). Passes append
diagnostics to a `Reporter` and carry on, so one run reports every problem it can.

Text rendering follows the compilers users know (mypy, rustc):

    specs/net.nnd:12:9: error[E0402]: Add2 inputs do not broadcast: ...
       12 |     out Add2(h, s) -> ReLU
          |         ^^^^^^^^^^
       = help: ...
    specs/net.nnd:8:5: note: 'h' is defined here, 64x56x56
        8 |     h = x -> Convolution(64, kernel=3)
          |     ^
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Span:
    """A region of a source file: 1-based line and column, end column exclusive."""

    path: str
    line: int
    col: int
    end_line: int
    end_col: int

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.col}"

    def to(self, other: Span) -> Span:
        """The span from the start of this one to the end of `other`."""
        return Span(self.path, self.line, self.col, other.end_line, other.end_col)


@dataclass(frozen=True, slots=True)
class Note:
    message: str
    span: Span | None = None


@dataclass(frozen=True, slots=True)
class Diagnostic:
    code: str
    severity: str  # "error" | "warning"
    message: str
    span: Span | None
    notes: tuple[Note, ...] = ()
    help: str | None = None

    def to_json(self) -> dict:
        out: dict = {"code": self.code, "severity": self.severity, "message": self.message}
        out.update(_span_json(self.span))
        if self.help:
            out["help"] = self.help
        out["notes"] = [{"message": n.message, **_span_json(n.span)} for n in self.notes]
        return out


def _span_json(span: Span | None) -> dict:
    if span is None:
        return {"file": None, "line": None, "column": None, "end_line": None, "end_column": None}
    return {
        "file": span.path,
        "line": span.line,
        "column": span.col,
        "end_line": span.end_line,
        "end_column": span.end_col,
    }


# --- the message table ---------------------------------------------------------------------
# code: (severity, template). Templates are str.format strings; callers pass the fields.
# Codes are stable: never renumber, only add. E01xx syntax and files, E02xx names, E03xx
# arguments and types, E04xx shapes, E05xx networks and parameters, E06xx config,
# E07xx limits; W1xx lint warnings.

MESSAGES: dict[str, tuple[str, str]] = {
    # syntax and files
    "E0101": ("error", "{message}"),  # syntax error; the message says what was expected
    "E0102": ("error", "missing '{close}' to close '{open}' opened at {line}:{col}"),
    "E0103": ("error", "unexpected '{found}' with no matching '{open}'"),
    "E0104": ("error", "this file is not text: {reason}"),
    "E0105": ("error", "cannot read '{path}': {reason}"),
    "E0106": ("error", "include cycle: {chain}"),
    "E0107": ("error", "the file is empty: nothing to compile"),
    "E0108": ("error", "cannot include '{path}': it is outside the folders includes may read"),
    "E0109": ("error", "cannot include '{path}': only .nnd specs can be included"),
    "E0110": ("error", "includes nest deeper than {limit} files"),
    # names
    "E0201": ("error", "unknown layer or unit '{name}'"),
    "E0202": ("error", "unknown name '{name}'"),
    "E0203": ("error", "'{name}' is declared twice"),
    "E0204": ("error", "unknown network '{name}'"),
    "E0205": ("error", "unknown dataset '{name}'"),
    "E0206": ("error", "layer name '{name}' is already used in this scope"),
    "E0208": ("error", "no layer '{path}' in network '{network}'"),
    "E0209": ("error", "unknown type '{name}'; the types are int, float, bool, string, shape and list"),
    "E0210": ("error", "this nests deeper than {limit} levels (the limit for expressions, blocks and repeats)"),
    "E0211": ("error", "expanding this nests deeper than {limit} levels, counted through unit instances (the limit)"),
    "E0212": ("error", "derived networks form a cycle: {chain}"),
    "E0213": ("error", "the label '_' (a unit call that opens no scope) cannot label {what}"),
    "E0214": ("error", "unit '{name}' declares a parameter '{param}', a keyword every unit call takes"),
    "E0215": ("error", "a scope-less call ('_:') of unit '{name}' cannot take a parameter_scope: it opens no scope"),
    "E0216": ("error", "unknown monitor '{name}'"),
    # arguments and types
    "E0301": ("error", "{callee} has no parameter '{name}'"),
    "E0302": ("error", "{callee} takes {expected}, got {got}"),
    "E0303": ("error", "parameter '{name}' of {callee} is given twice"),
    "E0304": ("error", "{callee} needs parameter '{name}'"),
    "E0305": ("error", "'{name}' of {callee} must be {expected}, got {got}"),
    "E0306": ("error", "'{name}' of {callee} must be one of {choices}, got {got}"),
    "E0307": ("error", "{message}"),  # a constant expression that cannot be evaluated
    "E0308": ("error", "{callee} has {count} outputs; {where} needs exactly one"),
    "E0309": ("error", "unit '{name}' must declare its inputs with 'in' and its outputs with 'out'"),
    "E0310": ("error", "'{what}' is not allowed in {where}"),
    "E0311": ("error", "a {expected} is needed here, got {got}"),
    "E0312": ("error", "{count} names on the left but {callee} has {outputs} outputs"),
    "E0313": (
        "error",
        "'{name}' is a Parameter's value: it can only be given to a parameter connector ({connectors}), not {where}",
    ),
    "E0314": ("error", "the {connector} connector of {callee} takes a Parameter layer's value, got {got}"),
    "E0320": ("error", "index {index} is out of range for {what}"),
    "E0321": ("error", "the shape of {what} is not known here: {reason}"),
    "E0322": ("error", "{instance} has no layer, unit instance or repeat '{path}'"),
    "E0323": ("error", "'.{path}' {reason}"),
    "E0324": ("error", "{what} is a tensor: its axes take slices like x[a:b], not an index"),
    "E0325": ("error", "cannot slice {what}: {reason}"),
    # shapes
    "E0401": ("error", "{layer}: {message}"),
    "E0402": ("error", "{type} inputs '{a}' and '{b}' do not fit: {message}"),
    "E0403": ("error", "{what} {shape} is not a valid shape: {reason}"),
    "E0410": (
        "error",
        "with this layer the model has more than {limit} parameters (the limit; raise it with --max-parameters)",
    ),
    "E0411": (
        "error",
        "with this layer the network computes more than {limit} values per sample "
        "(the limit; raise it with --max-activations)",
    ),
    # networks and parameters
    "E0501": ("error", "parameter '{name}' has shape {shape} here but {other_shape} in network '{other}'"),
    "E0502": ("error", "unit '{name}' instantiates itself: {chain}"),
    "E0503": ("error", "network '{name}' has no layers"),
    "E0504": ("error", "network '{name}' has no outputs: every value is consumed"),
    "E0505": ("error", "WorkingMemory '{name}' has {setting} here but {other_setting} in network '{other}'"),
    "E0506": ("error", "{type} '{name}' shares the parameters '{scope}' of a {other_type} layer"),
    # config
    "E0601": ("error", "unknown config setting '{name}' in {where}"),
    "E0602": ("error", "unknown solver '{name}'"),
    "E0603": ("error", "unknown schedule '{name}'"),
    "E0604": ("error", "{where}: '{name}' must be {expected}, got {got}"),
    "E0605": ("error", "optimizer '{name}' trains network '{network}', which has no loss output"),
    "E0606": ("error", "{where} needs '{name}'"),
    "E0607": ("error", "'{name}' is set twice in {where}"),
    # NNC config sections (read by nndsl import, written by nndsl export)
    "E0620": ("error", "[{section}] NNC's solver '{name}' has no nndsl equivalent; nndsl has {choices}"),
    "E0621": ("error", "[{section}] unknown learning-rate schedule '{name}'; NNC's are {choices}"),
    "E0622": ("error", "[{section}] {key}={value}: {reason}"),
    "E0623": ("error", "NNC has one unit for {what}; these are in {units}"),
    "E0624": ("error", "NNC has no setting for {solver}'s {param}; NNC's trainer runs {solver} with {param}=false"),
    "E0625": ("error", "optimizer '{optimizer}': NNC has no schedule like {name}, which follows a monitor's values"),
    # limits
    "E0701": ("error", "expanding this would make more than {limit} layers (the limit; raise it with --max-layers)"),
    "E0702": ("error", "units nest deeper than {limit} levels"),
    "E0703": ("error", "repeat count must not be negative, got {count}"),
    # backends
    "E0801": ("error", "the {backend} backend cannot express {layer} ({type}): {reason}"),
    # output: the generated project's folder
    "E0901": ("error", "cannot write '{path}': {reason}"),
    "E0902": ("error", "{paths} changed since nndsl generated it"),
    "E0903": ("error", "another nndsl compile is writing into '{path}'; nothing was written"),
    "E0904": ("error", "cannot use the manifest '{path}': {reason}"),
    "E0919": ("error", "internal error: {message}"),
    # NNC import (nndsl import): positioned in the NNC file, "[section] message"
    "E0980": ("error", "{message}"),  # the NNC file cannot be read as a project
    "E0981": ("error", "{message}"),  # an NNC construct nndsl cannot express
    "E0982": ("error", "the imported spec does not compile: {message}"),
    "E0960": ("error", "cannot export to NNC: {reason}"),
    "E0961": ("error", "'{path}' exists; nothing was written (--force replaces it)"),
    "E0970": ("error", "{message}"),  # nndsl weights: the weights file cannot be read
    "E0971": ("error", "{message}"),  # nndsl weights: a layer of one side that no layer of the other fits
    # lint warnings
    "W101": ("warning", "value '{name}' is never used"),
    "W102": ("warning", "Input '{name}' has no dataset binding"),
    "W103": ("warning", "network '{name}' is not used by any optimizer, monitor or executor"),
    "W104": ("warning", "networks '{a}' and '{b}' share parameters but preprocess input '{column}' differently"),
    "W105": ("warning", "executor '{name}' evaluates network '{network}' {count} times, but it has no random layer"),
    "W106": ("warning", "{role} '{name}' uses network '{network}', which has no {expected} output"),
    "W107": ("warning", "dataset '{dataset}' ({path}) has no column '{column}' for Input '{input}'"),
    "W108": ("warning", "{role} '{name}' has no dataset"),
    "W109": ("warning", "unit '{name}' is never used"),
    "W112": ("warning", "output '{name}' of unit '{unit}' is never used, so it is no output of network '{network}'"),
    "W113": ("warning", "{type} relies on NNC's default {param}={value}"),  # lint --strict
    "W114": ("warning", "dataset '{dataset}': '{path}' does not exist"),  # lint --strict
    "W120": ("warning", "{message}"),  # an NNC property the import cannot carry over: lost
    "W130": ("warning", "{message}"),  # nndsl weights: unmatched with --partial, or paired against the file's order
    "W110": (
        "warning",
        "network '{name}' has no loss output, so it cannot be trained, but the config names no optimizer "
        "and NNC's default trains the network called Training",
    ),
    "W111": (
        "warning",
        "{param}={value} is not a rate nnabla honours: nnabla, NNC's runtime, and nndsl train a parameter whose "
        "learning-rate multiplier is above 0 at the solver's full rate and freeze one of 0 or below",
    ),
}


def make(code: str, span: Span | None, notes: Iterable[Note] = (), help: str | None = None, **fields) -> Diagnostic:
    severity, template = MESSAGES[code]
    return Diagnostic(code, severity, template.format(**fields), span, tuple(notes), help)


def did_you_mean(name: str, candidates: Iterable[str]) -> str | None:
    """A 'did you mean' hint, or None when nothing is close."""
    pool = list(dict.fromkeys(candidates))
    matches = difflib.get_close_matches(name, pool, n=1, cutoff=0.6)
    if not matches:
        lowered = {c.lower(): c for c in pool}
        m = difflib.get_close_matches(name.lower(), list(lowered), n=1, cutoff=0.6)
        matches = [lowered[m[0]]] if m else []
    return f"did you mean '{matches[0]}'?" if matches else None


class CompileError(Exception):
    """Raised to stop a pass at an error that leaves nothing sensible to continue with."""

    def __init__(self, diagnostic: Diagnostic):
        super().__init__(diagnostic.message)
        self.diagnostic = diagnostic


@dataclass
class Reporter:
    """Collects diagnostics in the order they are found."""

    diagnostics: list[Diagnostic] = field(default_factory=list)
    _seen: set[tuple] = field(default_factory=set, repr=False)
    reported: int = field(default=0, repr=False)  # calls to add(), duplicates included
    errors_reported: int = field(default=0, repr=False)  # of them errors: a pass's new errors, repeats included

    def add(self, d: Diagnostic) -> None:
        self.reported += 1
        if d.severity == "error":
            self.errors_reported += 1
        # A unit body expanded in several networks reports each problem once.
        key = (d.code, d.span, d.message)
        if key in self._seen:
            return
        self._seen.add(key)
        self.diagnostics.append(d)

    def error(
        self, code: str, span: Span | None, notes: Iterable[Note] = (), help: str | None = None, **fields
    ) -> None:
        self.add(make(code, span, notes, help, **fields))

    warn = error  # the severity comes from the message table

    @property
    def has_errors(self) -> bool:
        return any(d.severity == "error" for d in self.diagnostics)

    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == "error"]


def sort_diagnostics(diagnostics: list[Diagnostic], paths: Iterable[str]) -> None:
    """Put `diagnostics` in reading order, in place: by file (`paths`' order, then any other file
    by name, then those of no file), then line and column. Diagnostics at one place keep the order
    they were found in (a stable sort)."""
    rank = {p: i for i, p in enumerate(dict.fromkeys(paths))}

    def key(d: Diagnostic) -> tuple:
        if d.span is None:
            return (2, 0, "", 0, 0)
        known = d.span.path in rank
        return (0 if known else 1, rank.get(d.span.path, 0), "" if known else d.span.path, d.span.line, d.span.col)

    diagnostics.sort(key=key)


# --- rendering -------------------------------------------------------------------------------


class Sources:
    """Source text by path, for rendering snippets: the specs the compiler read."""

    def __init__(self) -> None:
        self._lines: dict[str, list[str] | None] = {}

    def add(self, path: str, text: str) -> None:
        self._lines[path] = text.splitlines()

    def line(self, path: str, n: int) -> str | None:
        # Only the text of specs that were read and accepted is ever shown: a diagnostic about
        # any other file (refused, binary, not a spec) names it but never prints its content.
        lines = self._lines.get(path)
        if lines is None or not 1 <= n <= len(lines):
            return None
        return lines[n - 1]


def _snippet(span: Span, sources: Sources) -> list[str]:
    text = sources.line(span.path, span.line)
    if text is None:
        return []
    text = text.expandtabs(4) if "\t" in text else text
    width = len(str(span.line))
    end = span.end_col if span.end_line == span.line else len(text) + 1
    carets = "^" * max(1, min(end, len(text) + 1) - span.col)
    return [f"  {span.line:>{width}} | {text}", f"  {'':>{width}} | {' ' * (span.col - 1)}{carets}"]


def render_text(diagnostics: Iterable[Diagnostic], sources: Sources) -> str:
    out: list[str] = []
    for d in diagnostics:
        where = f"{d.span}: " if d.span else ""
        out.append(f"{where}{d.severity}[{d.code}]: {d.message}")
        if d.span:
            out.extend(_snippet(d.span, sources))
        if d.help:
            out.append(f"  = help: {d.help}")
        for n in d.notes:
            if n.span:
                out.append(f"{n.span}: note: {n.message}")
                out.extend(_snippet(n.span, sources))
            else:
                out.append(f"  = note: {n.message}")
    return "\n".join(out) + ("\n" if out else "")


def render_json(diagnostics: Iterable[Diagnostic]) -> str:
    ds = list(diagnostics)
    return json.dumps(
        {
            "diagnostics": [d.to_json() for d in ds],
            "errors": sum(d.severity == "error" for d in ds),
            "warnings": sum(d.severity == "warning" for d in ds),
        },
        indent=2,
    )


def summary_line(diagnostics: Iterable[Diagnostic]) -> str:
    ds = list(diagnostics)
    e = sum(d.severity == "error" for d in ds)
    w = len(ds) - e
    parts = []
    if e:
        parts.append(f"{e} error{'s' if e != 1 else ''}")
    if w:
        parts.append(f"{w} warning{'s' if w != 1 else ''}")
    return ", ".join(parts)
