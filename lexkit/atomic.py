"""Atomic file and folder writes: after an error no half-written output is left behind.

Temporary files are created owner-only (``mkstemp``, and libraries such as safetensors that write through one),
so every output gets, before it is renamed into place, the mode a plain ``open()`` or ``mkdir`` would give:
``0666`` (``0777`` for folders and executables) minus the umask, or the mode of the file it replaces.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO


def current_umask() -> int:
    """The process umask (read from ``/proc`` where possible: setting it to read it back is not thread-safe)."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _plain_mode(source: Path, destination: Path, umask: int) -> int:
    """The mode ``destination`` would have if ``source`` had been written there with ``open()`` / ``mkdir``."""
    with contextlib.suppress(FileNotFoundError):
        existing = destination.lstat()
        if stat.S_ISDIR(existing.st_mode) == source.is_dir():
            return stat.S_IMODE(existing.st_mode)
    full = 0o777 if source.is_dir() or stat.S_IMODE(source.lstat().st_mode) & stat.S_IXUSR else 0o666
    return full & ~umask


def _publish_modes(staging: Path, destination: Path, umask: int) -> None:
    """Give every file and folder under ``staging`` its plain mode (recursively; links are left alone)."""
    for item in staging.iterdir():
        if item.is_symlink():
            continue
        os.chmod(item, _plain_mode(item, destination / item.name, umask))
        if item.is_dir():
            _publish_modes(item, destination / item.name, umask)


def atomic_write_bytes(path: Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file in the same folder and an atomic rename."""
    with atomic_writer(path) as handle:
        handle.write(data)
    return Path(path)


def atomic_write_text(path: Path, text: str) -> Path:
    """UTF-8 text version of `atomic_write_bytes`."""
    return atomic_write_bytes(path, text.encode("utf-8"))


@contextlib.contextmanager
def atomic_writer(path: Path) -> Iterator[BinaryIO]:
    """Yield a binary file that replaces ``path`` only if the block succeeds: for outputs written as a stream."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            yield handle
        os.chmod(tmp, _plain_mode(Path(tmp), path, current_umask()))
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def atomic_directory(path: Path) -> Iterator[Path]:
    """Yield a temporary folder that replaces ``path`` only if the block succeeds.

    Files already in ``path`` that the block does not write are kept; a failure leaves ``path`` as it was
    (and does not create it). Written files get plain modes (module docstring), whatever wrote them.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent))
    try:
        yield staging
        _publish_modes(staging, path, current_umask())
        path.mkdir(exist_ok=True)
        for item in staging.iterdir():
            os.replace(item, path / item.name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
