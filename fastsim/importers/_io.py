"""Reading JSON snapshots, plain or gzip-compressed, with errors that name the file."""

from __future__ import annotations

import contextlib
import gzip
import json
from collections.abc import Iterator
from pathlib import Path

from fastsim.errors import InputError

GZIP_MAGIC = b"\x1f\x8b"


@contextlib.contextmanager
def _reading(path: Path) -> Iterator[None]:
    """Errors reading ``path``, plain or gzip, as one InputError naming it."""
    try:
        yield
    except (gzip.BadGzipFile, EOFError) as exc:  # BadGzipFile is an OSError: caught first
        raise InputError(path, None, f"broken gzip data ({exc})") from None
    except OSError as exc:
        raise InputError(path, None, f"cannot read the file ({exc.strerror or exc})") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(path, None, f"invalid JSON ({exc})") from None


def read_head(path: Path, n: int = 4096) -> bytes:
    """The first bytes of the (decompressed) file."""
    with _reading(path), open(path, "rb") as f:
        head = f.read(n)
        if not head.startswith(GZIP_MAGIC):
            return head
    with _reading(path), gzip.open(path, "rb") as f:
        return f.read(n)


def read_json(path: Path):
    with _reading(path):
        with open(path, "rb") as f:
            raw = f.read()
        if raw.startswith(GZIP_MAGIC):
            raw = gzip.decompress(raw)
        return json.loads(raw)


def require(entry, name: str, source, index: int, kind: str = "entry"):
    if not isinstance(entry, dict):
        raise InputError(source, kind, f"expected an object, got {type(entry).__name__} ({kind} {index})")
    try:
        return entry[name]
    except KeyError:
        raise InputError(source, name, f"expected this field in every {kind} (missing in {kind} {index})") from None
