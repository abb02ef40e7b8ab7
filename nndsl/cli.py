"""The `nndsl` command.

    nndsl compile FILE --backend torch|keras -o DIR [--format text|json] [--include-path DIR]
    nndsl lint FILE... [--format text|json] [--strict] [--include-path DIR]
    nndsl summary FILE [--network NAME] [--format text|json|csv] [--repeats folded|expanded]
    nndsl fmt FILE... [--check]
    nndsl import SRC.sdcproj|.nntxt|.nnp -o OUT.nnd [--force] [--format text|json]
    nndsl export FILE -o OUT.sdcproj|OUT.nntxt [--force] [--format text|json] [--include-path DIR]
    nndsl weights SPEC FILE -o PARAMS.npz [--network NAME] [--partial] [--force]
    nndsl --version

Exit codes: 0 fine, 1 errors in the input (or, with --check / --strict, files to fix),
2 usage, 3 a bug in nndsl. With `--format json`, stdout holds exactly one JSON document
whatever happens (usage errors aside): the diagnostics, or summary's table. Nothing here
imports torch or tensorflow: lint, summary and fmt start fast.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from . import __version__

EXIT_OK, EXIT_INPUT, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3
BACKENDS = ("torch", "keras")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="nndsl", description="Neural networks as text, compiled to PyTorch and Keras projects."
    )
    p.add_argument("--version", action="version", version=f"nndsl {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    def limits(q: argparse.ArgumentParser) -> None:
        q.add_argument(
            "--max-layers",
            type=int,
            default=None,
            metavar="N",
            help="refuse specs that expand to more than N layers (default 1,000,000)",
        )
        q.add_argument(
            "--max-parameters",
            type=int,
            default=None,
            metavar="N",
            help="refuse models of more than N parameters (default 10,000,000,000)",
        )
        q.add_argument(
            "--max-activations",
            type=int,
            default=None,
            metavar="N",
            help="refuse networks that compute more than N values per sample (default 10,000,000,000)",
        )

    def includes(q: argparse.ArgumentParser) -> None:
        q.add_argument(
            "--include-path",
            action="append",
            default=[],
            metavar="DIR",
            help="also let includes read DIR's folder tree (repeatable; by default only the spec's own folder tree)",
        )

    c = sub.add_parser("compile", help="generate a training project from a spec")
    c.add_argument("file")
    c.add_argument("--backend", choices=BACKENDS, required=True)
    c.add_argument("-o", "--output", required=True, metavar="DIR")
    c.add_argument("--format", choices=("text", "json"), default="text", help="diagnostics format")
    c.add_argument("--force", action="store_true", help="overwrite generated files changed since they were generated")
    limits(c)
    includes(c)

    lt = sub.add_parser("lint", help="check specs: every error and warning")
    lt.add_argument("files", nargs="+", metavar="FILE")
    lt.add_argument("--format", choices=("text", "json"), default="text")
    lt.add_argument(
        "--strict",
        action="store_true",
        help="also warn where NNC's defaults differ from PyTorch's and about missing dataset CSVs; exit 1 on warnings",
    )
    lt.add_argument(
        "--backend",
        action="append",
        choices=BACKENDS,
        default=[],
        help="also report every layer this backend cannot express (repeatable)",
    )
    limits(lt)
    includes(lt)

    s = sub.add_parser("summary", help="layers, shapes, parameters and MACs per network")
    s.add_argument("file")
    s.add_argument("--network", metavar="NAME", help="only this network")
    s.add_argument("--format", choices=("text", "json", "csv"), default="text")
    s.add_argument(
        "--repeats",
        choices=("folded", "expanded"),
        default=None,
        help="show each repeat as one row (text default) or every copy's layers (json/csv default)",
    )
    limits(s)
    includes(s)

    im = sub.add_parser("import", help="translate an NNC project (.sdcproj, .nntxt, .nnp) to a .nnd spec")
    im.add_argument("source", metavar="SRC")
    im.add_argument("-o", "--output", required=True, metavar="OUT.nnd")
    im.add_argument("--force", action="store_true", help="overwrite OUT.nnd if it exists")
    im.add_argument("--format", choices=("text", "json"), default="text", help="diagnostics format")
    e = sub.add_parser("export", help="write a spec as a Neural Network Console project (.sdcproj)")
    e.add_argument("file")
    e.add_argument("-o", "--output", required=True, metavar="OUT.sdcproj")
    e.add_argument("--format", choices=("text", "json"), default="text", help="diagnostics format")
    e.add_argument("--force", action="store_true", help="replace OUT.sdcproj if it exists")
    limits(e)
    includes(e)

    w = sub.add_parser("weights", help="a framework's weights file as the spec's NNC parameters")
    w.add_argument("spec", metavar="SPEC")
    w.add_argument(
        "file", metavar="FILE", help="a PyTorch state dict (.pth, .pt), .safetensors, Keras .weights.h5 / .keras"
    )
    w.add_argument("-o", "--output", required=True, metavar="PARAMS.npz", help="a .npz, .h5 or .protobuf file")
    w.add_argument("--network", metavar="NAME", help="the network whose parameters to fill (default: the model's own)")
    w.add_argument("--partial", action="store_true", help="write what matched; unmatched layers are warnings")
    w.add_argument("--force", action="store_true", help="replace PARAMS if it exists")
    limits(w)
    includes(w)

    f = sub.add_parser("fmt", help="rewrite specs in canonical form")
    f.add_argument("files", nargs="+", metavar="FILE")
    f.add_argument("--check", action="store_true", help="change nothing; exit 1 if a file is not formatted")
    return p


def _compile(path: str, args, lint: bool = False, strict: bool = False):
    from .compiler import compile_file
    from .passes.expand import DEFAULT_MAX_LAYERS

    max_layers = args.max_layers if args.max_layers is not None else DEFAULT_MAX_LAYERS
    size = {k: v for k in ("max_parameters", "max_activations") if (v := getattr(args, k)) is not None}
    include_paths = tuple(args.include_path)
    return compile_file(path, max_layers=max_layers, lint=lint, strict=strict, include_paths=include_paths, **size)


def _report(results, fmt: str) -> None:
    from .diagnostics import render_json, render_text, summary_line

    diags = [d for r in results for d in r.diagnostics]
    if fmt == "json":
        print(render_json(diags))
        return
    for r in results:
        text = render_text(r.diagnostics, r.sources)
        if text:
            sys.stderr.write(text)
    line = summary_line(diags)
    if line:
        sys.stderr.write(line + "\n")


def _backend_check(result, backends) -> None:
    """Add to `result` an E0801 for every layer one of `backends` cannot express."""
    if result.project is None or not result.ok:
        return
    from .backends.check import backend_diagnostics

    for backend in backends:
        result.diagnostics.extend(backend_diagnostics(result.project, backend))


def cmd_lint(args) -> int:
    results = [_compile(f, args, lint=True, strict=args.strict) for f in args.files]
    for r in results:
        _backend_check(r, dict.fromkeys(args.backend))
    _report(results, args.format)
    errors = any(not r.ok for r in results)
    warnings = any(d.severity == "warning" for r in results for d in r.diagnostics)
    if args.format == "text" and not errors and not warnings:
        sys.stderr.write(f"{len(results)} file{'s' if len(results) != 1 else ''} checked: no problems\n")
    return EXIT_INPUT if errors or (args.strict and warnings) else EXIT_OK


def cmd_compile(args) -> int:
    result = _compile(args.file, args)
    _backend_check(result, [args.backend])
    written = []
    if result.ok:
        import importlib

        from .backends.builder import BackendUnsupported
        from .backends.output import OutputError

        generate = importlib.import_module(f".backends.{args.backend}", __package__).generate
        try:
            written = generate(result.project, args.output, force=args.force)
        except (BackendUnsupported, OutputError) as e:
            result.diagnostics.append(e.diagnostic)
    _report([result], args.format)
    if not result.ok:
        return EXIT_INPUT
    # the files of the folder itself, and the runtime package's folder once: "model.py, ..., nndsl_runtime/"
    shown = dict.fromkeys(
        p.relative_to(args.output).parts[0] + ("/" if p.parent != Path(args.output) else "") for p in written
    )
    sys.stderr.write(f"wrote {len(written)} files to {args.output}: {', '.join(shown)}\n")
    return EXIT_OK


def _write_new(path: Path, content: str | bytes) -> None:
    """Write `content` to `path` atomically (a temporary file beside it, then a rename), with the
    permissions open() would give."""
    folder = path.parent if str(path.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(content.encode("utf-8") if isinstance(content, str) else content)
        umask = os.umask(0o022)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def cmd_summary(args) -> int:
    from .summary import render

    result = _compile(args.file, args)
    report = "json" if args.format == "json" else "text"
    if not result.ok:
        _report([result], report)
        return EXIT_INPUT
    project = result.project
    if args.network and project.network(args.network) is None:
        from .diagnostics import did_you_mean, make

        hint = did_you_mean(args.network, [n.name for n in project.networks])
        result.diagnostics.append(make("E0204", None, help=hint, name=args.network))
        _report([result], report)
        return EXIT_INPUT
    repeats = args.repeats or ("folded" if args.format == "text" else "expanded")
    sys.stdout.write(render(project, args.format, network=args.network, folded=repeats == "folded"))
    return EXIT_OK


EXPORT_FORMATS = (".sdcproj", ".nntxt")


def cmd_export(args) -> int:
    """`nndsl export FILE -o OUT`: by OUT's extension, an NNC project (`.sdcproj`,
    nndsl/nnc/export.py) or nnabla's network file (`.nntxt`, nndsl/nnc/nntxt_write.py)."""
    from .diagnostics import make

    out = Path(args.output)
    suffix = out.suffix.lower()
    if suffix not in EXPORT_FORMATS:
        sys.stderr.write(
            f"nndsl export: error: -o {args.output}: the output's extension says what to write; "
            f"expected one of {', '.join(EXPORT_FORMATS)}\n"
        )
        return EXIT_USAGE
    result = _compile(args.file, args)
    text = note = None
    if result.ok:
        from .nnc.config_nnd import config_problems

        result.diagnostics.extend(config_problems(result.project))  # a Plateau schedule, an AMSGRAD option, ...
    if result.ok:
        from .nnc import export, nntxt_write, sdcproj_write

        try:
            if suffix == ".sdcproj":
                text = sdcproj_write.sdcproj_text(export.export_project(result))
            else:
                ipe = nntxt_write.iterations_per_epoch(result.project)
                text = nntxt_write.project_to_nntxt(result.project, iter_per_epoch=ipe or 0)
                if ipe is None and result.project.config.optimizers:
                    note = (
                        f"note: {out}: the training dataset's CSV is not there: iter_per_epoch is 0 and durations "
                        "in epochs are written as epoch counts (as NNC does)\n"
                    )
        except export.ExportError as e:
            span = e.layer.origin.span if e.layer is not None else None
            notes = e.layer.origin.notes() if e.layer is not None else ()
            result.diagnostics.append(make("E0960", span, notes, reason=e.message))
        except nntxt_write.ExportError as e:
            result.diagnostics.append(
                make("E0801", e.span, backend="nntxt", layer=e.what, type=e.type, reason=e.message)
            )
    if text is not None:
        if (out.exists() or out.is_symlink()) and not args.force:
            result.diagnostics.append(make("E0961", None, path=str(out)))
        else:
            try:
                _write_new(out, text)
            except OSError as e:
                result.diagnostics.append(make("E0901", None, path=str(out), reason=e.strerror or str(e)))
    _report([result], args.format)
    if not result.ok:
        return EXIT_INPUT
    if args.format == "text":
        sys.stderr.write((note or "") + f"wrote {out}\n")
    return EXIT_OK


def cmd_fmt(args) -> int:
    from .diagnostics import Reporter, Sources, render_text
    from .fmt import format_module
    from .passes.resolve_includes import read_source
    from .syntax.parser import parse

    status = EXIT_OK
    for name in args.files:
        reporter, sources = Reporter(), Sources()
        text = read_source(Path(name), name, None, reporter, sources)
        if text is not None:
            module, diags = parse(text, name)
            for d in diags:
                reporter.add(d)
        if reporter.diagnostics:
            sys.stderr.write(render_text(reporter.diagnostics, sources))
            sys.stderr.write(f"{name}: not formatted: fix the errors first\n")
            status = EXIT_INPUT
            continue
        formatted = format_module(module)
        if formatted == text:
            continue
        if args.check:
            sys.stderr.write(f"{name}: would be reformatted\n")
            status = EXIT_INPUT
            continue
        target = Path(os.path.realpath(name))  # through a symbolic link: the link stays a link
        problem = _unwritable(target)
        if problem is None:
            try:
                _write_atomic(target, formatted)
            except OSError as e:
                problem = f"cannot write it: {e.strerror or e}"
        if problem is not None:
            sys.stderr.write(f"nndsl: error: {name}: not formatted: {problem}\n")
            status = EXIT_INPUT
            continue
        sys.stderr.write(f"{name}: formatted\n")
    return status


def _unwritable(path: Path) -> str | None:
    """Why fmt must not rewrite `path`, or None. A file without write permission is the
    user's "do not touch", honoured even where the rename could replace it (as root)."""
    try:
        if not os.access(path, os.W_OK) or not path.stat().st_mode & 0o222:
            return "the file is read-only"
    except OSError as e:
        return f"cannot write it: {e.strerror or e}"
    return None


def _write_atomic(path: Path, text: str) -> None:
    """Write beside the file, then rename over it: an interrupted fmt never truncates a spec."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
        os.chmod(tmp, path.stat().st_mode & 0o777)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def cmd_import(args) -> int:
    from .diagnostics import Sources, make, render_json, render_text, summary_line
    from .nnc.importer import import_with_project, parameter_paths

    source = Path(args.source)
    suffix = source.suffix.lower()
    if suffix not in (".sdcproj", ".nntxt", ".nnp"):
        sys.stderr.write(f"nndsl import: error: {args.source}: not a .sdcproj, .nntxt or .nnp file\n")
        return EXIT_USAGE
    out = Path(args.output)
    diags = []
    files: dict[Path, bytes] = {}
    text = None
    if (out.exists() or out.is_symlink()) and not args.force:
        diags.append(make("E0961", None, path=str(out)))
    else:
        text, diags, project = import_with_project(source, str(out))
        if project is not None:
            files = parameter_paths(project, out)  # an .nnp's parameters, beside the spec
            for path in files:
                if (path.exists() or path.is_symlink()) and not args.force:
                    diags.append(make("E0961", None, path=str(path)))
    if text is not None and not any(d.severity == "error" for d in diags):
        try:
            for path, data in files.items():
                _write_new(path, data)
            _write_new(out, text)
        except OSError as e:
            diags.append(make("E0901", None, path=str(out), reason=e.strerror or str(e)))
            text = None
    if args.format == "json":
        print(render_json(diags))
    else:
        rendered = render_text(diags, Sources())
        if rendered:
            sys.stderr.write(rendered)
        line = summary_line(diags)
        if line:
            sys.stderr.write(line + "\n")
    if text is None or any(d.severity == "error" for d in diags):
        return EXIT_INPUT
    if args.format == "text":
        sys.stderr.write(f"wrote {', '.join(str(p) for p in (out, *files))}\n")
    return EXIT_OK


def cmd_weights(args) -> int:
    """`nndsl weights SPEC FILE -o PARAMS`: see nndsl/weights.py."""
    from .weights import run

    return run(args)


COMMANDS = {
    "import": cmd_import,
    "export": cmd_export,
    "lint": cmd_lint,
    "compile": cmd_compile,
    "summary": cmd_summary,
    "fmt": cmd_fmt,
    "weights": cmd_weights,
}


def main(argv: list[str] | None = None) -> int:
    for stream in (sys.stdout, sys.stderr):  # file names need not be UTF-8: never fail to print one
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
    parser = _parser()
    args = parser.parse_args(argv)
    for limit in ("max_layers", "max_parameters", "max_activations"):
        if getattr(args, limit, None) is not None and getattr(args, limit) < 1:
            parser.error(f"--{limit.replace('_', '-')} must be at least 1")
    for folder in getattr(args, "include_path", ()):
        if not os.path.isdir(folder):
            parser.error(f"--include-path {folder}: not a folder")
    try:
        return COMMANDS[args.command](args)
    except KeyboardInterrupt:
        sys.stderr.write("nndsl: interrupted\n")
        return 130
    except BrokenPipeError:
        return EXIT_OK
    except Exception as e:  # a bug in nndsl, not in the user's spec
        if os.environ.get("NNDSL_DEBUG"):
            raise
        if getattr(args, "format", None) == "json":
            from .diagnostics import make, render_json

            print(render_json([make("E0919", None, message=f"{type(e).__name__}: {e}")]))
        sys.stderr.write(
            f"nndsl: internal error: {type(e).__name__}: {e}\n"
            "This is a bug in nndsl, not in your spec. Rerun with NNDSL_DEBUG=1 for details and please report it.\n"
        )
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
