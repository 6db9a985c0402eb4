"""Which importer a file needs, from its content (not only its name)."""

from __future__ import annotations

from pathlib import Path

from fastsim.errors import InputError
from fastsim.importers._io import read_head
from fastsim.importers.cloth import is_cloth_prefix

PARQUET_MAGIC = b"PAR1"


def detect_format(path: Path) -> str:
    if path.is_dir() or path.suffix.lower() == ".csv" or is_cloth_prefix(path):
        return "cloth"
    if not path.exists():
        raise InputError(path, None, "file not found")
    head = read_head(path)
    if head.startswith(PARQUET_MAGIC):
        return "parquet"
    text = head.decode("utf-8", errors="replace")
    if text.lstrip().startswith(("{", "[")):
        if '"channels"' in text:
            return "cln"
        if '"nodes"' in text or '"edges"' in text:
            return "lnd"
    raise InputError(path, None, "cannot tell the format: expected Core Lightning listchannels JSON, "
                                 "lnd describegraph JSON, CLoTH CSV or a fastsim network Parquet file "
                                 "(use --format to say which)")
