"""The one Numba decorator the kernels use: cached by default, ``FASTSIM_NUMBA_CACHE=0`` turns caching off.

Numba keys a cached kernel on its own file only, while our kernels inline functions from sibling
modules; so the kernels are cached in a folder of their own per hash of all kernel sources,
``__pycache__/fastsim-<hash>/`` (under ``NUMBA_CACHE_DIR`` when that is set). A source change
starts a new folder instead of deleting files, so processes starting at once (a sweep's workers)
never race on a deletion, and a process still running older sources neither loses its cache nor
writes stale code where newer sources would read it. Folders of other hashes are removed once no
process holds them: each process keeps a shared lock on its own folder while it lives.

Serial kernels are compiled without Numba's reference counting (``_nrt=False``): they take every
array from the caller and allocate none (Numba refuses to compile an allocation without it), and
the atomic increments and decrements it adds around each helper call took half the event loop's
time. Parallel kernels keep it, as their scheduling needs it.
"""

import contextlib
import hashlib
import os
import shutil
import sys
from pathlib import Path

import numba
from numba.core import config as numba_config
from numba.core.registry import CPUDispatcher

try:
    import fcntl
except ImportError:  # Windows: no advisory locks, so old folders are kept rather than risked
    fcntl = None

CACHE = os.environ.get("FASTSIM_NUMBA_CACHE", "1") not in ("0", "false", "no", "off")
PREFIX = "fastsim-"
LOCK = "in-use.lock"

_held = None  # the open lock file of this process's cache folder, kept until exit


def sources_hash(folder: Path) -> str:
    digest = hashlib.sha256()
    for source in sorted(folder.glob("*.py")):
        digest.update(source.name.encode() + b"\0" + source.read_bytes())
    return digest.hexdigest()[:16]


def _hold(folder: Path):
    """Create ``folder`` and take a shared lock on its lock file; the open file holds the lock."""
    lock = folder / LOCK
    while True:
        folder.mkdir(parents=True, exist_ok=True)
        try:
            handle = open(lock, "a")
        except FileNotFoundError:  # removed by a pruner between mkdir and open
            continue
        if fcntl is None:
            return handle
        fcntl.flock(handle, fcntl.LOCK_SH)
        try:
            if os.stat(lock).st_ino == os.fstat(handle.fileno()).st_ino:
                return handle
        except FileNotFoundError:
            pass
        handle.close()  # a pruner removed the folder before we locked it: start again


def _prune(root: Path, keep: Path) -> None:
    """Remove the cache folders of other source hashes that no living process holds."""
    if fcntl is None:
        return
    for folder in root.glob(PREFIX + "*"):
        if folder == keep or not folder.is_dir():
            continue
        try:
            with open(folder / LOCK, "a") as handle:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue  # in use
                shutil.rmtree(folder, ignore_errors=True)
        except OSError:
            continue


def cache_folder() -> Path | None:
    """This process's kernel cache folder, created and held; None where no folder is writable
    (a read-only install: Numba then falls back to its own location)."""
    global _held
    here = Path(__file__).resolve().parent
    root = Path(numba_config.CACHE_DIR) if numba_config.CACHE_DIR else here / "__pycache__"
    folder = root / (PREFIX + sources_hash(here))
    if _held is None:
        try:
            _held = _hold(folder)
            _prune(root, folder)
        except OSError:
            return None
    return folder


_FOLDER = cache_folder() if CACHE else None


@contextlib.contextmanager
def _cache_dir(folder):
    # Numba picks a function's cache folder when the dispatcher is made, from NUMBA_CACHE_DIR's
    # setting; pointing that at our folder for just this moment touches no other package's cache
    saved = numba_config.CACHE_DIR
    numba_config.CACHE_DIR = str(folder)
    try:
        yield
    finally:
        numba_config.CACHE_DIR = saved


class KernelOnly(CPUDispatcher):
    """A kernel compiled without the CPython wrapper: Python calling it would crash, so it refuses."""

    def __call__(self, *args, **kwargs):
        raise TypeError(f"{self.py_func.__module__}.{self.py_func.__qualname__} is called by "
                        "other kernels only; from Python, call fastsim.kernels._jit.from_python(it)")


def njit(*args, entry=False, **kwargs):
    """Numba's ``njit`` with our cache; ``entry=True`` for a kernel that Python calls.

    Any other kernel is compiled without the CPython wrapper that unboxes its arguments: for
    kernels taking bundles of arrays the wrappers cost more compile time than the kernels (a first
    run compiled for twice as long). Tests call such a kernel through ``from_python``."""
    kwargs.setdefault("cache", CACHE)
    kwargs.setdefault("no_cfunc_wrapper", True)
    if not entry:
        kwargs.setdefault("no_cpython_wrapper", True)
    if not kwargs.get("parallel"):
        kwargs.setdefault("_nrt", False)
    if args and callable(args[0]):  # @njit
        return _make(_FOLDER, kwargs)(args[0])
    return _make(_FOLDER, kwargs, args)  # @njit(...), with signatures if any


def _make(folder, options, signatures=()):
    """A decorator making the dispatcher with ``options``, cached in ``folder`` when caching."""
    def decorate(function):
        if options["cache"] and folder:
            with _cache_dir(folder):
                kernel = numba.njit(*signatures, **options)(function)
        else:
            kernel = numba.njit(*signatures, **options)(function)
        if options.get("no_cpython_wrapper") and isinstance(kernel, CPUDispatcher):
            kernel.__class__ = KernelOnly
        return kernel
    return decorate


def from_python(kernel):
    """A twin of ``kernel`` that Python can call (tests do): the same function with the CPython
    wrapper, cached in a folder of its own so that the two never read each other's cache files
    (Numba's cache keys ignore the wrapper), and not cached where we have no folder."""
    if not isinstance(kernel, CPUDispatcher):
        return kernel  # NUMBA_DISABLE_JIT: already a Python function
    options = {**kernel.targetoptions, "no_cpython_wrapper": False, "cache": CACHE and bool(_FOLDER)}
    options.pop("nopython", None)  # njit sets it
    return _make(_FOLDER / "from_python" if _FOLDER else None, options)(kernel.py_func)


def _marker(name: str) -> Path:
    return _FOLDER / f"{name}.{sys.implementation.cache_tag}.compiled"


def compiled(name: str) -> bool:
    """Whether a run noted ``name`` (a variant of a kernel) compiled into this cache folder; also
    True where nothing is compiled (NUMBA_DISABLE_JIT) or nothing is kept (no cache folder)."""
    return bool(numba_config.DISABLE_JIT) or _FOLDER is None or _marker(name).exists()


def note_compiled(name: str) -> None:
    """Note that ``name`` is compiled and cached (see ``compiled``)."""
    if _FOLDER is not None and not numba_config.DISABLE_JIT:
        _marker(name).touch()
