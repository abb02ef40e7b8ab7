"""Run folders, argument checks and checksummed files, framework-free (part of every generated project).

Both backends' ``train.py`` and ``infer.py`` use this module; it needs only the standard library.
Errors are two exceptions whose message is the whole explanation (print it, no traceback):
``UsageError`` (a command line that cannot run: exit status 2) and ``RunError`` (bad input, a
file that is missing, corrupt or does not fit the model, or a training that went non-finite:
exit status 1).

Run folders
    Every ``train.py`` run writes into its own folder under the output folder (``--output``,
    default ``runs/``), as timm and Neural Network Console do, so that no run overwrites another::

        runs/
          LATEST                    the name of the latest run (one line of text)
          20260101-120000/          a run: checkpoint.pt, best.pt, params.npz, log.csv, ...
          20260101-120000-2/        a second run started in the same second

    ``new_run(parent)`` creates the folder (exclusive ``mkdir``: two runs started at once get
    different folders) and points ``LATEST`` at it (replaced atomically). ``latest_run(parent)``
    reads ``LATEST`` (the newest run folder by name if it is missing). ``resolve_run(parent,
    value)`` finds the run ``--resume [RUN]`` names: the latest for no value, else a run name
    under ``parent`` or the path of a run folder. ``RUN_NAME`` matches run folder names.

Argument checks (each raises ``UsageError`` naming the option)
    ``check_seed(seed)``: 0 <= seed < 2**63. ``check_workers(n)``: n >= 0 (None: the default).
    ``check_output_folder(path)``: the folder exists or can be created, is a folder (not a file,
    not under one) and is writable. ``check_finite(value, what)`` and ``check_hyperparameters(
    mapping, where)``: every number finite (nested mappings and lists are searched).
    ``derive_seed(seed, *keys)``: an independent 63-bit seed for one random stream (an epoch's
    sample order, a loader, a process), the same for the same arguments in every process.

Checksummed files
    ``write_checked(path, write)`` calls ``write(tmp)`` to write the file to a temporary path
    beside ``path`` (same folder, same file name suffix), then replaces ``path`` with it
    atomically and records its SHA-256 in ``<path>.sha256`` (``sha256sum -c`` reads it). A run
    killed at any moment leaves the old file or the new one, each matching the record: during
    the switch the record lists both digests. ``verify_checked(path)`` raises ``RunError`` when
    the file does not match its record (corrupt or truncated); a file without a record (written
    elsewhere) is not checked. ``write_bytes_atomic(path, data)`` and ``write_text_atomic(path,
    text)`` write small files atomically.

Finite values
    ``NonFiniteError`` (a ``RunError``) is what a training raises when a loss or a monitored
    value is NaN or infinite; ``is_finite(value)`` tells.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path

__all__ = [
    "LATEST",
    "MAX_SEED",
    "RUN_NAME",
    "NonFiniteError",
    "RunError",
    "UsageError",
    "check_finite",
    "check_hyperparameters",
    "check_output_folder",
    "check_seed",
    "check_workers",
    "derive_seed",
    "file_sha256",
    "is_finite",
    "latest_run",
    "new_run",
    "resolve_run",
    "verify_checked",
    "write_bytes_atomic",
    "write_checked",
    "write_text_atomic",
]

LATEST = "LATEST"  # the file in the output folder naming the latest run
MAX_SEED = 2**63 - 1
RUN_NAME = re.compile(r"\d{8}-\d{6}(-\d+)?")  # YYYYmmdd-HHMMSS, then -2, -3, ... for runs of the same second
_DIGEST_SUFFIX = ".sha256"


class UsageError(Exception):
    """A command line that cannot run (exit status 2)."""


class RunError(ValueError):
    """Bad input: a file that is missing, corrupt or does not fit the model, or a failed training (exit status 1).

    A ValueError, so that code catching the errors of a bad file before this module existed still does."""


class NonFiniteError(RunError):
    """A loss or monitored value became NaN or infinite."""


# ---------------------------------------------------------------------------------------------------
# Atomic writes
# ---------------------------------------------------------------------------------------------------


def _fsync_folder(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # not on every platform
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _temporary_path(path: Path) -> Path:
    """A new, unused path beside `path` whose name ends as `path`'s does (Keras wants `.weights.h5`)."""
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix="-" + path.name, dir=path.parent)
    os.close(fd)
    umask = os.umask(0o022)  # mkstemp makes 0600 files: give the permissions open() would
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    return Path(tmp)


def _replace(tmp: Path, path: Path) -> None:
    try:
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_folder(path.parent)


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> None:
    """Write `data` to `path` atomically: a reader sees the old content or the new, never a mix."""
    path = Path(path)
    tmp = _temporary_path(path)
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _replace(tmp, path)


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    write_bytes_atomic(path, text.encode("utf-8"))


# ---------------------------------------------------------------------------------------------------
# Checksummed files
# ---------------------------------------------------------------------------------------------------


def file_sha256(path: str | os.PathLike) -> str:
    """The SHA-256 of a file's content, as hex (read in 1 MiB blocks)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _record(path: Path) -> Path:
    return path.with_name(path.name + _DIGEST_SUFFIX)


def _recorded_digests(path: Path) -> list[str] | None:
    """The digests `<path>.sha256` lists (None: no record); an unreadable record lists none."""
    record = _record(path)
    try:
        text = record.read_text(encoding="ascii")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError):
        return []
    return [line.split()[0].lower() for line in text.splitlines() if line.strip()]


def write_checked(path: str | os.PathLike, write: Callable[[Path], object]) -> None:
    """Write a file through `write(tmp_path)`, then put it at `path` atomically with its SHA-256 recorded.

    Order, so that a kill at any moment leaves a file that matches its record: the new file is
    written and synced under a temporary name; the record lists the new digest and the old one;
    the file replaces the old one; the record lists only the new digest.
    """
    path = Path(path)
    tmp = _temporary_path(path)
    try:
        write(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        digest = file_sha256(tmp)
        recorded = _recorded_digests(path)
        # The digest of the file being replaced: the recorded one, else computed.
        previous = recorded[:1] if recorded else [file_sha256(path)] if path.is_file() else []
        both = [digest, *(d for d in previous if d != digest)]
        write_text_atomic(_record(path), "".join(f"{d}  {path.name}\n" for d in both))
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _replace(tmp, path)
    write_text_atomic(_record(path), f"{digest}  {path.name}\n")


def verify_checked(path: str | os.PathLike) -> None:
    """Raise RunError when `path` does not match the SHA-256 its `<path>.sha256` records."""
    path = Path(path)
    digests = _recorded_digests(path)
    if digests is None:
        return
    if not digests:
        raise RunError(f"{path}: its checksum file {_record(path).name} is unreadable")
    try:
        actual = file_sha256(path)
    except OSError as e:
        raise RunError(f"{path}: cannot read: {e.strerror or e}") from None
    if actual not in digests:
        raise RunError(
            f"{path}: corrupt or truncated (its SHA-256 differs from the one recorded in {_record(path).name})"
        )


# ---------------------------------------------------------------------------------------------------
# Run folders
# ---------------------------------------------------------------------------------------------------


def new_run(parent: str | os.PathLike, now: float | None = None) -> Path:
    """Create a new run folder `parent/YYYYmmdd-HHMMSS[-N]` (exclusively) and point LATEST at it."""
    parent = check_output_folder(parent)
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(now))
    for n in range(1, 10_000):
        run = parent / (stamp if n == 1 else f"{stamp}-{n}")
        try:
            run.mkdir()
        except FileExistsError:
            continue
        except OSError as e:
            raise UsageError(f"--output {parent}: cannot create a run folder: {e.strerror or e}") from None
        write_text_atomic(parent / LATEST, run.name + "\n")
        return run
    raise UsageError(f"--output {parent}: too many runs started at {stamp}")


def _runs(parent: Path) -> list[Path]:
    try:
        return sorted(
            (p for p in parent.iterdir() if RUN_NAME.fullmatch(p.name) and p.is_dir()),
            key=lambda p: (p.name[:15], int(p.name[16:] or 1)),
        )
    except OSError:
        return []


def latest_run(parent: str | os.PathLike) -> Path | None:
    """The run LATEST names (else the newest run folder by name); None when there is none."""
    parent = Path(parent)
    try:
        name = (parent / LATEST).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        name = ""
    if name and RUN_NAME.fullmatch(name) and (parent / name).is_dir():
        return parent / name
    runs = _runs(parent)
    return runs[-1] if runs else None


def resolve_run(parent: str | os.PathLike, value: str | None, option: str = "--resume") -> Path:
    """The run folder `--resume [RUN]` names: the latest under `parent` for None or "", else a run
    name under `parent` or a run folder's path. UsageError when there is no such run."""
    parent = Path(parent)
    if not value:
        run = latest_run(parent)
        if run is None:
            raise UsageError(f"{option}: no run in {parent} to continue")
        return run
    for candidate in (Path(value), parent / value):
        if candidate.is_dir():
            return candidate
    raise UsageError(f"{option} {value}: no run folder {parent / value} (nor {value})")


# ---------------------------------------------------------------------------------------------------
# Argument checks
# ---------------------------------------------------------------------------------------------------


def check_seed(seed: int | None, option: str = "--seed") -> int | None:
    if seed is not None and not 0 <= seed <= MAX_SEED:
        raise UsageError(f"{option} {seed}: expected an integer from 0 to 2**63 - 1")
    return seed


def check_workers(workers: int | None, option: str = "--workers") -> int | None:
    if workers is not None and workers < 0:
        raise UsageError(f"{option} {workers}: expected 0 (load in the main process) or more")
    return workers


def check_output_folder(path: str | os.PathLike, option: str = "--output") -> Path:
    """`path` as a writable folder, created if needed; UsageError naming the problem otherwise."""
    path = Path(path)
    for above in (path, *path.parents):
        if above.exists() or above.is_symlink():
            if not above.is_dir():
                what = "is" if above == path else f"is under {above}, which is"
                raise UsageError(f"{option} {path}: {what} a file, not a folder")
            break
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UsageError(f"{option} {path}: cannot create the folder: {e.strerror or e}") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise UsageError(f"{option} {path}: the folder is not writable")
    return path


def is_finite(value: object) -> bool:
    try:
        return math.isfinite(value)  # type: ignore[arg-type]
    except TypeError:
        return True  # not a number


def check_finite(value: float, what: str) -> float:
    if not is_finite(value):
        raise UsageError(f"{what}: expected a finite number, got {value}")
    return value


def check_hyperparameters(values: object, where: str) -> None:
    """UsageError for the first NaN or infinite number in `values` (nested mappings and lists too)."""
    if isinstance(values, Mapping):
        for key, value in values.items():
            check_hyperparameters(value, f"{where} {key}")
    elif isinstance(values, list | tuple):
        for i, value in enumerate(values):
            check_hyperparameters(value, f"{where}[{i}]")
    elif isinstance(values, float) and not math.isfinite(values):
        raise UsageError(f"{where}: expected a finite number, got {values}")


def derive_seed(seed: int, *keys: object) -> int:
    """A seed in [0, 2**63) for the random stream `keys` of a run seeded with `seed` (SHA-256 of both)."""
    text = ",".join(str(k) for k in (seed, *keys)).encode("utf-8")
    return int.from_bytes(hashlib.sha256(text).digest()[:8], "big") >> 1
