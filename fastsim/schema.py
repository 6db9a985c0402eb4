"""Column specs: one place defines every table column's name, dtype, unit and meaning.

The specs drive numpy dtypes, validation of arrays at the boundary and the Arrow schema of
Parquet files, so that a column is described once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa


@dataclass(frozen=True)
class Column:
    name: str
    dtype: str  # numpy dtype name, or "str" for text metadata columns
    unit: str
    meaning: str

    @property
    def is_text(self) -> bool:
        return self.dtype == "str"

    def arrow_type(self) -> pa.DataType:
        return pa.string() if self.is_text else pa.from_numpy_dtype(np.dtype(self.dtype))


NODE_COLUMNS: tuple[Column, ...] = (
    Column("pubkey", "str", "", "node id (hex public key, or a synthetic name)"),
    Column("alias", "str", "", "announced alias, empty if unknown"),
)

CHANNEL_COLUMNS: tuple[Column, ...] = (
    Column("scid", "str", "", "short channel id (or a synthetic id)"),
    Column("node0", "int32", "node", "endpoint on side 0; direction 2*c sends node0 -> node1"),
    Column("node1", "int32", "node", "endpoint on side 1; direction 2*c+1 sends node1 -> node0"),
    Column("capacity_msat", "int64", "msat", "channel capacity"),
)

DIRECTION_COLUMNS: tuple[Column, ...] = (
    Column("fee_base_msat", "int64", "msat", "base fee charged to forward out over this direction"),
    Column("fee_rate_ppm", "int64", "ppm", "proportional fee, millionths of the forwarded amount"),
    Column("cltv_delta", "int32", "blocks", "cltv_expiry_delta of the forwarding node"),
    Column("htlc_min_msat", "int64", "msat", "smallest HTLC the direction accepts"),
    Column("htlc_max_msat", "int64", "msat", "largest HTLC the direction accepts"),
    Column("enabled", "bool", "", "usable according to gossip (active, with a policy)"),
)

BALANCE_COLUMN = Column(
    "balance_msat", "int64", "msat", "local balance of the sending side, when the source has one"
)

# Columns of the one-row-per-direction Parquet layout of a network (direction e = 2*channel+side).
DIRECTION_FILE_COLUMNS: tuple[Column, ...] = (
    Column("direction", "int64", "", "direction index e = 2*channel + side"),
    Column("channel", "int32", "", "channel index"),
    Column("side", "int8", "", "0: node0 -> node1, 1: node1 -> node0"),
    Column("src", "int32", "node", "sending node"),
    Column("dst", "int32", "node", "receiving node"),
    CHANNEL_COLUMNS[0],
    CHANNEL_COLUMNS[3],
    *DIRECTION_COLUMNS,
    BALANCE_COLUMN,
)


def arrow_schema(columns: tuple[Column, ...], metadata: dict | None = None) -> pa.Schema:
    """Arrow schema of a table with the given columns, units and meanings in field metadata."""
    fields = [
        pa.field(c.name, c.arrow_type(), nullable=c.is_text or c is BALANCE_COLUMN,
                 metadata={"unit": c.unit, "meaning": c.meaning})
        for c in columns
    ]
    return pa.schema(fields, metadata=metadata)


def describe(columns: tuple[Column, ...]) -> str:
    """A plain-text table of columns for docs and `--help`."""
    return "\n".join(f"{c.name:16} {c.dtype:6} {c.unit:7} {c.meaning}" for c in columns)
