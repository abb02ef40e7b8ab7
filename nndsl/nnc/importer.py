"""`nndsl import`: an NNC project file to `.nnd` text and diagnostics.

One call, `import_project(path, out_name)`: read the source (`.sdcproj` here, `.nntxt` and
`.nnp` through `nndsl.nnc.nntxt`), translate it (`to_nnd.translate`), and compile the text to
check that it is a sound spec. Problems in the NNC file are positioned there: the span's file
and line, the section in brackets at the head of the message.
"""

from __future__ import annotations

from pathlib import Path

from ..diagnostics import Diagnostic, Span, make
from . import nntxt
from .nntxt import NntxtError
from .project import NncProject, Where
from .sdcproj import SdcprojError, read_sdcproj
from .to_nnd import translate


def _span(where: Where) -> Span:
    line = max(1, where.line)
    return Span(where.file, line, 1, line, 1)


def _diag(code: str, where: Where, message: str) -> Diagnostic:
    return make(code, _span(where), message=f"[{where.section}] {message}")


def read_project(path: Path) -> NncProject:
    suffix = path.suffix.lower()
    if suffix == ".sdcproj":
        return read_sdcproj(path, display=str(path))
    return nntxt.read_nnp(str(path)) if suffix == ".nnp" else nntxt.read_nntxt(str(path))


def import_project(path: Path, out_name: str) -> tuple[str | None, list[Diagnostic]]:
    """(the .nnd text or None, diagnostics). The text is None when there are errors."""
    text, diags, _ = import_with_project(path, out_name)
    return text, diags


def parameter_paths(project: NncProject, out: Path) -> dict[Path, bytes]:
    """Where the parameter files an .nnp carries go: beside the spec, named after it
    (`net.nnd` + `parameter.h5` -> `net.h5`, `parameter.protobuf` -> `net.protobuf`)."""
    return {out.with_suffix(Path(member).suffix): data for member, data in project.parameter_files.items()}


def import_with_project(path: Path, out_name: str) -> tuple[str | None, list[Diagnostic], NncProject | None]:
    try:
        project = read_project(path)
    except (SdcprojError, NntxtError) as e:
        return None, [_diag("E0980", err.where, err.message) for err in e.errors], None
    text, diags = _translate(project, out_name)
    return text, diags, project


def _translate(project: NncProject, out_name: str) -> tuple[str | None, list[Diagnostic]]:
    result = translate(project)
    diags = [_diag(p.code, p.where, p.message) for p in result.problems]
    diags.extend(result.config_diagnostics)
    if not result.ok or any(d.severity == "error" for d in result.config_diagnostics):
        return None, diags
    from ..compiler import compile_file

    compiled = compile_file(out_name, text=result.text)
    errors = [d for d in compiled.diagnostics if d.severity == "error"]
    if errors:
        first = errors[0]
        where = f"line {first.span.line}: " if first.span else ""
        diags.append(make("E0982", None, message=f"{where}{first.message} ({len(errors)} errors)"))
        return None, diags
    return result.text, diags
