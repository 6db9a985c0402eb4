"""Importers: real network snapshots in, a validated :class:`~fastsim.network.Network` out.

Formats (auto-detected from content; ``format=`` overrides): ``cln`` (Core Lightning
``listchannels`` JSON, plain or gzip), ``lnd`` (``describegraph`` JSON, plain or gzip), ``cloth``
(CLoTH CSV triple given by any of its files, the start of their names or their folder, balances
kept) and ``parquet`` (a file written by ``Network.save``).

Bad input policy (also in docs/importers.md):

- Structural breakage is an :class:`~fastsim.errors.InputError` naming the file, the field and
  what was expected (with the entry or row): unreadable files, invalid JSON/CSV/gzip, missing
  fields or columns, wrong types, unparseable msat strings, negative fees or CLTV, references to
  unknown nodes or edges, CLoTH edges not matching their channel, CLoTH balances not adding up, an
  import that keeps no channel at all.
- Data-quality problems found on real mainnet dumps are dropped or disabled and counted in the
  :class:`ImportReport`, never silently: self-loop channels and channels of zero or negative
  capacity are dropped; a repeated short channel id with other endpoints (or a repeated lnd/CLoTH
  channel id) is dropped, a repeated entry for a direction already read is dropped; a direction
  with an absurd fee (rate above 1,000,000 ppm or base above 100,000,000 msat), with
  ``htlc_max < htlc_min`` or announced enabled with CLTV delta 0 is disabled while its channel stays.
- A direction the snapshot has no policy for (a missing reverse entry in CLN, a ``null`` policy in
  lnd) is disabled; parallel channels stay separate channels.
"""

from __future__ import annotations

from pathlib import Path

from fastsim.errors import InputError
from fastsim.importers.cln import read_cln
from fastsim.importers.cloth import read_cloth
from fastsim.importers.detect import detect_format
from fastsim.importers.lnd import read_lnd
from fastsim.importers.report import ImportReport
from fastsim.network import Network

FORMATS = ("cln", "lnd", "cloth", "parquet")


def _read_parquet(path: Path) -> tuple[Network, ImportReport]:
    network = Network.load(path)
    report = ImportReport(format="parquet", source=str(path), nodes=network.n_nodes,
                          channels_read=network.n_channels, channels=network.n_channels,
                          directions_enabled=int(network.enabled.sum()))
    return network, report


READERS = {"cln": read_cln, "lnd": read_lnd, "cloth": read_cloth, "parquet": _read_parquet}


def import_network(path: str | Path, *, format: str | None = None) -> tuple[Network, ImportReport]:
    """Read a snapshot or network file; returns the network and what the import dropped or disabled."""
    path = Path(path)
    if format is not None and format not in FORMATS:
        raise InputError(path, "format", f"expected one of {', '.join(FORMATS)}, got {format!r}")
    format = format or detect_format(path)
    if format != "cloth" and not path.exists():  # a CLoTH network may be named by the start of its files
        raise InputError(path, None, "file not found")
    return READERS[format](path)


def load_network(path: str | Path, *, format: str | None = None) -> Network:
    """Like :func:`import_network`, without the report."""
    return import_network(path, format=format)[0]


__all__ = ["FORMATS", "ImportReport", "import_network", "load_network"]
