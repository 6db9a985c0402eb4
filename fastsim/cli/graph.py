"""`fastsim graph import|synth|info`: bring networks in, make synthetic ones, describe them."""

from __future__ import annotations

import time
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from fastsim.cli._errors import user_errors
from fastsim.graphstats import PERCENTILES, network_stats
from fastsim.importers import FORMATS, import_network, load_network
from fastsim.staging import check_file_target
from fastsim.synth import synthesize

app = typer.Typer(help="Import, synthesize and inspect channel graphs.", no_args_is_help=True)


@app.command("import")
def import_command(
    file: Path = typer.Argument(..., help="Snapshot: CLN listchannels JSON(.gz), lnd describegraph "
                                          "JSON(.gz), CLoTH CSV (any of the three files), or Parquet."),
    out: Path = typer.Option(..., "-o", "--out", help="Network Parquet file to write."),
    format: str = typer.Option("", "--format", help=f"Override detection: one of {', '.join(FORMATS)}."),
) -> None:
    """Import a real network snapshot into fastsim's Parquet network file."""
    with user_errors():
        check_file_target(out)  # before the import, which a bad -o would otherwise cost
        t0 = time.perf_counter()
        network, report = import_network(file, format=format or None)
        t1 = time.perf_counter()
        network.save(out)
        t2 = time.perf_counter()
    for line in report.lines():
        typer.echo(line)
    typer.echo(f"read {file} in {t1 - t0:.2f} s; wrote {out} in {t2 - t1:.2f} s")


@app.command("synth")
def synth_command(
    nodes: int = typer.Option(2000, "--nodes", "-n", help="Number of nodes."),
    seed: int = typer.Option(1, "--seed", help="Random seed."),
    out: Path = typer.Option(..., "-o", "--out", help="Network Parquet file to write."),
) -> None:
    """Generate a synthetic LN-like graph calibrated to the 2026 mainnet snapshot."""
    with user_errors(options={"n_nodes": "--nodes", "seed": "--seed"}):
        t0 = time.perf_counter()
        network = synthesize(n_nodes=nodes, seed=seed)
        network.save(out)
    typer.echo(f"synthesized {network.n_nodes} nodes, {network.n_channels} channels in "
               f"{time.perf_counter() - t0:.2f} s; wrote {out}")


@app.command("info")
def info_command(
    file: Path = typer.Argument(..., help="A network Parquet file or any importable snapshot."),
    format: str = typer.Option("", "--format", help=f"Override detection: one of {', '.join(FORMATS)}."),
) -> None:
    """Describe a network: sizes, capacity, fee and CLTV percentiles, components, disabled share."""
    with user_errors():
        stats = network_stats(load_network(file, format=format or None))
    console = Console()
    console.print(f"[bold]{file}[/bold]")
    console.print(f"nodes {stats['nodes']:,}   channels {stats['channels']:,}   "
                  f"total capacity {stats['total_capacity_msat'] / 1e11:,.2f} BTC")
    console.print(f"disabled directions {stats['disabled_directions']:,} "
                  f"({100 * stats['disabled_share']:.1f}%); channels without a usable direction "
                  f"{stats['channels_without_usable_direction']:,}; nodes without a usable outgoing "
                  f"direction {stats['nodes_without_usable_outgoing']:,}")
    console.print(f"components {stats['weak_components']:,}; largest strongly connected component "
                  f"over enabled directions {stats['largest_scc_nodes']:,} nodes")
    table = Table("percentiles", *[f"p{q}" for q in PERCENTILES])
    labels = {"capacity_sat": "capacity, sat (all channels)",
              "fee_base_msat": "base fee, msat (enabled)", "fee_rate_ppm": "fee rate, ppm (enabled)",
              "cltv_delta": "CLTV delta (enabled)"}
    for key, label in labels.items():
        table.add_row(label, *[f"{v:,.0f}" for v in stats[key].values()])
    console.print(table)
