"""Writing files and folders all or nothing: everything is written under a hidden staging name beside
its target, then renamed into place, so that a reader (or a run killed at any moment) sees either the
old complete target or the new complete one.

A folder is staged as ``<parent>/.<name>.staging-<random>``. It is swapped with the old folder in one
step where the system can (Linux ``renameat2(RENAME_EXCHANGE)``); elsewhere the old folder is first
renamed to a staging name, so that a kill in the instant between the two renames leaves the target
missing (both folders complete under staging names). Staging folders left by killed writes are removed
by the next write to the same target; a live write holds a lock on its own, so it is left alone.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import os
import shutil
import sys
import tempfile
from collections.abc import Collection, Iterator
from pathlib import Path

from fastsim.errors import InputError

STAGING_INFIX = ".staging-"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _staging_prefix(target: Path) -> str:
    return f".{target.name}{STAGING_INFIX}"


def _check_writable(target: Path) -> None:
    """Raise unless ``target`` can be made in its folder, or in the folders a write would create."""
    folder = target.parent
    while not folder.exists():
        folder = folder.parent
    try:
        if not folder.is_dir():
            raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR))
        os.rmdir(tempfile.mkdtemp(prefix=_staging_prefix(target), dir=folder))
    except OSError as exc:
        raise InputError(target, None, f"cannot write here ({exc.strerror or exc})") from None


def check_file_target(path: str | Path) -> None:
    """Raise now what a staged write of the file ``path`` would meet: a folder in its place, a place
    that cannot be written."""
    path = Path(path)
    if path.is_dir():
        raise InputError(path, None, "is a folder; expected the name of a file to write")
    _check_writable(path)


@contextlib.contextmanager
def staged_file(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path in the target's folder; on success it is renamed to ``path``."""
    path = Path(path)
    check_file_target(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_umask())
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def check_folder_target(path: str | Path, *, replaces: Collection[str]) -> None:
    """Raise now what a staged write of the folder ``path`` would meet: a file in its place, a folder
    holding anything but the names in ``replaces`` (it would be deleted), a place that cannot be written."""
    target = Path(path)
    if target.exists() and not target.is_dir():
        raise InputError(target, None, "is a file; expected a folder to write")
    if target.is_dir():
        foreign = sorted(set(os.listdir(target)) - set(replaces))
        if foreign:
            raise InputError(target, None, f"holds {foreign[0]!r} ({len(foreign)} files or folders in "
                                           "all) that a write here would delete; expected a new or "
                                           "empty folder or one written by fastsim")
    _check_writable(target)


def remove_stale(path: str | Path) -> None:
    """Remove the staging folders of ``path`` that killed writes left behind (not a live write's)."""
    target = Path(path)
    prefix = _staging_prefix(target)
    with contextlib.suppress(FileNotFoundError), os.scandir(target.parent) as entries:
        stale = [Path(e.path) for e in entries
                 if e.name.startswith(prefix) and e.is_dir(follow_symlinks=False)]
    for folder in stale:
        try:
            fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
        except FileNotFoundError:  # another writer removed it first
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:  # a live write's
            continue
        else:  # a folder that cannot be removed is an error: readers of the parent would see it
            with contextlib.suppress(FileNotFoundError):  # another writer's removal got there first
                shutil.rmtree(folder)
        finally:
            os.close(fd)


def _libc_renameat2():
    if not sys.platform.startswith("linux"):
        return None
    return getattr(ctypes.CDLL(None, use_errno=True), "renameat2", None)


_RENAMEAT2 = _libc_renameat2()
_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


def _exchange(a: Path, b: Path) -> bool:
    """Swap two existing paths in one step; False where the system or file system cannot."""
    if _RENAMEAT2 is None:
        return False
    if _RENAMEAT2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        return False
    raise OSError(err, os.strerror(err), str(a), None, str(b))


def _swap_into_place(staging: Path, target: Path) -> None:
    """Put ``staging`` at ``target`` and delete what was there; ``staging`` then names nothing."""
    if not os.path.lexists(target):
        os.rename(staging, target)
        return
    if _exchange(staging, target):
        shutil.rmtree(staging)  # the old folder
        return
    old = Path(tempfile.mkdtemp(prefix=_staging_prefix(target), dir=target.parent))
    os.rename(target, old)  # over the empty folder just made: the name stays ours
    try:
        os.rename(staging, target)
    except BaseException:
        os.rename(old, target)
        raise
    shutil.rmtree(old)


@contextlib.contextmanager
def staged_folder(path: str | Path, *, replaces: Collection[str]) -> Iterator[Path]:
    """Yield an empty staging folder beside ``path``; on success it replaces ``path`` whole.

    ``replaces`` names what an existing folder at ``path`` may hold: one holding anything else is not
    replaced (see :func:`check_folder_target`). Staging folders of killed writes are removed first.
    On an exception the staging folder is deleted and ``path`` is left as it was."""
    target = Path(path)
    if target.is_symlink():  # replace the folder it points to, not the link
        target = target.resolve()
    check_folder_target(target, replaces=replaces)
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale(target)
    staging = Path(tempfile.mkdtemp(prefix=_staging_prefix(target), dir=target.parent))
    fd = os.open(staging, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # marks the write live for remove_stale
        os.chmod(staging, 0o777 & ~_umask())
        yield staging
        _swap_into_place(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    finally:
        os.close(fd)
