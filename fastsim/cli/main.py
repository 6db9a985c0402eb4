"""The `fastsim` command: one module per command, each a thin wrapper over a plain function."""

from __future__ import annotations

import typer

from fastsim import __version__
from fastsim.cli import graph, report, run, sweep

app = typer.Typer(
    name="fastsim",
    help="Vectorized, high-throughput batch simulator of Lightning Network payments and JIT-routing.",
    no_args_is_help=False,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(graph.app, name="graph")
app.command("run")(run.run_command)
app.command("sweep")(sweep.sweep_command)
app.command("report")(report.report_command)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"fastsim {__version__}")
        raise typer.Exit()


@app.callback(invoke_without_command=True)
def main(
    ctx: typer.Context,
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                 help="Print the version and exit."),
) -> None:
    """Simulate Lightning payments on real snapshots or synthetic LN-like graphs."""
    if ctx.invoked_subcommand is None:
        typer.echo(ctx.get_help())
