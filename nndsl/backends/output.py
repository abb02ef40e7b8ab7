"""Writing a generated project without losing anything the user wrote or trained.

Generated files are written atomically (a temporary file, then a rename) and recorded with
their content hash in `DIR/.nndsl-manifest.json`. Compiling again overwrites a generated
file only if it is unchanged since nndsl wrote it (or `force` is given); files nndsl did not
write (checkpoints, logs, the user's own) are never touched.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

MANIFEST = ".nndsl-manifest.json"


class OverwriteRefused(Exception):
    def __init__(self, paths: list[Path]):
        self.paths = paths
        names = ", ".join(str(p) for p in paths)
        super().__init__(f"{names} changed since nndsl generated it; keep your changes elsewhere or use --force")


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def write_project(out: str | Path, files: dict[str, str], force: bool = False) -> list[Path]:
    """Write `files` (name -> text) into `out`; returns the paths written."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    manifest_path = out / MANIFEST
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        manifest = {}
    blobs = {name: text.encode("utf-8") for name, text in files.items()}
    if not force:
        refused = []
        for name, data in blobs.items():
            path = out / name
            if path.exists():
                current = _digest(path.read_bytes())
                if current != _digest(data) and current != manifest.get(name):
                    refused.append(path)
        if refused:
            raise OverwriteRefused(refused)
    written = []
    for name, data in blobs.items():
        _atomic_write(out / name, data)
        manifest[name] = _digest(data)
        written.append(out / name)
    _atomic_write(manifest_path, (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode("utf-8"))
    return written


def _atomic_write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
