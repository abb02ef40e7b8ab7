"""Writing a generated project without losing anything the user wrote or trained.

Generated files are written atomically (a temporary file, then a rename) and recorded with
their content hash in `DIR/.nndsl-manifest.json`. Compiling again overwrites a generated
file only if it is unchanged since nndsl wrote it (or `force` is given); files nndsl did not
write (checkpoints, logs, the user's own) are never touched. A file an earlier compile generated
that this one does not (the other backend's, compiling torch over keras) is removed if it is
unchanged since, and kept if the user changed it, so a folder never mixes two backends' code.
Generated files lie in the folder itself and in the runtime package's folder, `nndsl_runtime/`
(its subfolders are created as needed, removed when left empty; a link on the way is refused).

One compile writes into a folder at a time: each holds an exclusive lock on
`DIR/.nndsl-lock` (`flock`, not waited for) while it checks and writes, and a second one
fails at once (E0903) instead of mixing its files with the first's. Every problem with the
folder (a file where the folder should be, no permission, a broken manifest) is an
`OutputError` carrying a diagnostic, never a crash.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

from ..diagnostics import Diagnostic, make

try:
    import fcntl
except ImportError:  # Windows: no advisory locks; compiles are not serialized there
    fcntl = None

MANIFEST = ".nndsl-manifest.json"
LOCK = ".nndsl-lock"
SUBFOLDER = "nndsl_runtime"  # the only folder of generated files inside a project: the runtime package


class OutputError(Exception):
    """The project cannot be written as asked; `diagnostic` says why (E09xx)."""

    def __init__(self, diagnostic: Diagnostic):
        super().__init__(diagnostic.message)
        self.diagnostic = diagnostic


class OverwriteRefused(OutputError):
    def __init__(self, paths: list[Path]):
        self.paths = paths
        names = ", ".join(str(p) for p in paths)
        super().__init__(make("E0902", None, help="keep your changes elsewhere or use --force", paths=names))


def _cannot_write(path: Path, reason: str) -> OutputError:
    return OutputError(make("E0901", None, path=str(path), reason=reason))


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def write_project(out: str | Path, files: dict[str, str], force: bool = False) -> list[Path]:
    """Write `files` (name -> text) into `out`; returns the paths written."""
    out = Path(out)
    _make_folder(out)
    blobs = {name: text.encode("utf-8") for name, text in files.items()}
    with _locked(out):
        manifest_path = out / MANIFEST
        manifest = _read_manifest(manifest_path, force)
        refused = []
        for name, data in blobs.items():
            path = out / name
            current = _current(path)
            if current is not None and not force and current != _digest(data) and current != manifest.get(name):
                refused.append(path)
        if refused:
            raise OverwriteRefused(refused)
        written = []
        for name, data in blobs.items():
            _make_parents(out, name)
            _atomic_write(out / name, data)
            manifest[name] = _digest(data)
            written.append(out / name)
        for name in sorted(set(manifest) - set(blobs)):  # generated before, not now
            if not _inside(out, name):
                continue  # generated files lie in the folder or its own subfolders: never follow a manifest elsewhere
            path = out / name
            try:
                current = _current(path)
            except OutputError:
                continue  # something else is there now: not nndsl's to remove
            if current is None or current == manifest[name]:
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
                _remove_empty_parents(out, name)
                del manifest[name]
        _atomic_write(manifest_path, (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode("utf-8"))
    return written


def _inside(out: Path, name: str) -> bool:
    """Whether `name` (a manifest entry) is a file of the folder or of the subfolder nndsl writes
    (SUBFOLDER, the runtime package): a relative path of plain names, with no link on the way."""
    parts = Path(name).parts
    if not parts or Path(name).is_absolute() or any(p in ("", ".", "..") for p in parts) or "\\" in name:
        return False
    if len(parts) > 1 and parts[0] != SUBFOLDER:
        return False
    return not any((out / Path(*parts[:i])).is_symlink() for i in range(1, len(parts)))


def _make_parents(out: Path, name: str) -> None:
    """Create the subfolders of `name` inside `out` (the runtime package's), refusing a link on the way."""
    parts = Path(name).parts
    for i in range(1, len(parts)):
        folder = out / Path(*parts[:i])
        if folder.is_symlink():
            raise _cannot_write(folder, "a link is in the way of a generated folder")
        _make_folder(folder)


def _remove_empty_parents(out: Path, name: str) -> None:
    """Remove the subfolders of a removed generated file that are left empty."""
    parts = Path(name).parts
    for i in range(len(parts) - 1, 0, -1):
        try:
            (out / Path(*parts[:i])).rmdir()
        except OSError:
            return  # not empty (or not ours to remove): leave it


def _make_folder(out: Path) -> None:
    try:
        out.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise _cannot_write(out, "it is a file, not a folder") from None
    except NotADirectoryError:
        raise _cannot_write(out, "a part of the path is a file, not a folder") from None
    except OSError as e:
        raise _cannot_write(out, e.strerror or str(e)) from None


@contextlib.contextmanager
def _locked(out: Path) -> Iterator[None]:
    """Hold `out`'s lock; a compile already writing there makes this one fail at once."""
    try:
        fd = os.open(out / LOCK, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o644)
    except OSError as e:
        raise _cannot_write(out, e.strerror or str(e)) from None
    try:
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise OutputError(make("E0903", None, path=str(out))) from None
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _read_manifest(path: Path, force: bool) -> dict[str, str]:
    """The manifest's name -> digest table; a manifest that cannot be used stops the write
    (without it, files the user changed cannot be told from generated ones) unless `force`."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return {}
    except OSError as e:
        reason = e.strerror or str(e)
    else:
        try:
            manifest = json.loads(raw.decode("utf-8"))
        except ValueError:
            reason = "it is not valid JSON"
        else:
            if isinstance(manifest, dict) and all(
                isinstance(k, str) and isinstance(v, str) for k, v in manifest.items()
            ):
                return manifest
            reason = "it is not a table of file names and digests"
    if force:
        return {}
    raise OutputError(
        make(
            "E0904",
            None,
            help="it records which files nndsl generated; remove it, or use --force to overwrite every generated file",
            path=str(path),
            reason=reason,
        )
    )


def _current(path: Path) -> str | None:
    """The digest of what is at `path` now (None if nothing is)."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return None
    except OSError as e:
        raise _cannot_write(path, e.strerror or str(e)) from None
    if not stat.S_ISREG(info.st_mode):
        raise _cannot_write(path, "something that is not a regular file is in the way")
    try:
        return _digest(path.read_bytes())
    except OSError as e:
        raise _cannot_write(path, e.strerror or str(e)) from None


def _atomic_write(path: Path, data: bytes) -> None:
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as e:
        raise _cannot_write(path.parent, e.strerror or str(e)) from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except OSError as e:
        Path(tmp).unlink(missing_ok=True)
        raise _cannot_write(path, e.strerror or str(e)) from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
