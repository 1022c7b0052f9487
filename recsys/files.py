"""File safety shared by every writer: sha256, fsync, an atomic file write, an atomic directory
publish with crash leftovers tidied, and derived cache files checked by a sidecar checksum.
Used by artifacts, datasets, checkpoints, reports and the serving caches. Standard library only.
"""
from __future__ import annotations

import ctypes
import errno
import hashlib
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

# A writer's leftover older than this is a crashed writer's (a live one is younger).
STALE_LEFTOVER_SECONDS = 3600


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def fsync_file(path: Path) -> None:
    with open(path, "rb+") as f:
        os.fsync(f.fileno())


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: Path, write: Callable[[BinaryIO], object]) -> None:
    """Create or replace ``path`` with what ``write(file)`` writes, through a temporary file
    beside it, fsync and ``os.replace``: a reader sees the old file or the new one, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes it 0600; an app running as another user must read it
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one atomic step (Linux ``renameat2(RENAME_EXCHANGE)``); False where the
    system or file system cannot."""
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):  # not Linux, or a libc without it
        return False
    at_fdcwd, rename_exchange = -100, 2
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        return False
    raise OSError(code, os.strerror(code), str(a), None, str(b))


def publish_dir(tmp: Path, dst: Path) -> None:
    """Put the fully written directory ``tmp`` at ``dst`` (same parent) in one atomic step, so a
    reader or a crash sees the old directory or the new one, never none or half of one.

    Every file in ``tmp`` and ``tmp`` itself are fsynced first. A new ``dst`` is a rename; an
    existing one is exchanged with ``tmp`` (which then holds the old content and is removed; a
    crash leaves it as a leftover for ``remove_leftovers``). Where the system cannot exchange,
    the old ``dst`` is renamed aside to ``.<name>.old-<pid>`` first, and ``remove_leftovers``
    puts it back if a crash came between the two renames. The parent is fsynced last."""
    for file in tmp.iterdir():
        if file.is_file():
            fsync_file(file)
    fsync_dir(tmp)
    if not dst.exists():
        os.rename(tmp, dst)
    elif _exchange(tmp, dst):
        fsync_dir(dst.parent)
        shutil.rmtree(tmp, ignore_errors=True)
    else:
        old = dst.with_name(f".{dst.name}.old-{os.getpid()}")
        os.rename(dst, old)
        os.rename(tmp, dst)
        fsync_dir(dst.parent)
        shutil.rmtree(old, ignore_errors=True)
    fsync_dir(dst.parent)


def remove_leftovers(dst: Path, stale_seconds: float = STALE_LEFTOVER_SECONDS) -> list[Path]:
    """Tidy what crashed writers of ``dst`` left beside it (``.<name>.*``): an old copy renamed
    aside goes back to ``dst`` when ``dst`` is missing, else goes; temporary directories older
    than ``stale_seconds`` go (a live writer's is younger). Returns the paths removed."""
    removed = []
    for aside in sorted(dst.parent.glob(f".{dst.name}.old-*")):
        if not dst.exists():
            os.rename(aside, dst)
            continue
        shutil.rmtree(aside, ignore_errors=True)
        removed.append(aside)
    cutoff = time.time() - stale_seconds
    for leftover in dst.parent.glob(f".{dst.name}.*"):
        if leftover.is_dir() and leftover.stat().st_mtime < cutoff:
            shutil.rmtree(leftover, ignore_errors=True)
            removed.append(leftover)
    return removed


def write_cache_file(path: Path, write: Callable[[BinaryIO], object], replaces: str) -> None:
    """``atomic_write`` a derived file kept beside an artifact (``.index-cache/``), then its
    ``<name>.sha256`` sidecar, which ``cache_file_intact`` checks before the file is used. The
    other files matching the glob ``replaces`` (caches of older content) go, with their sidecars."""
    atomic_write(path, write)
    sidecar = path.with_name(path.name + ".sha256")
    atomic_write(sidecar, lambda f: f.write(f"{sha256(path)}  {path.name}\n".encode()))
    for stale in path.parent.glob(replaces):
        if stale != path:
            stale.unlink(missing_ok=True)
            stale.with_name(stale.name + ".sha256").unlink(missing_ok=True)


def cache_file_intact(path: Path) -> bool:
    """Whether ``path`` and its sidecar exist and agree (written whole by ``write_cache_file``,
    not damaged or replaced since). A caller rebuilds on False."""
    try:
        recorded = path.with_name(path.name + ".sha256").read_bytes().split()
        return recorded == [sha256(path).encode(), path.name.encode()]
    except OSError:
        return False
