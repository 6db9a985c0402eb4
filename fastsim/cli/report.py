"""`fastsim report`: summaries as tables, figures as PNG and one HTML page, for a sweep or a run."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import typer
from rich.console import Console
from rich.table import Table

from fastsim.cli._errors import user_errors
from fastsim.report import build_report, format_value


def report_command(
    folder: Path = typer.Argument(..., help="A sweep folder (fastsim sweep --out) or a run folder "
                                            "(fastsim run --out)."),
    out: Path = typer.Option(None, "--out", help="Folder for the figures and report.html.",
                             show_default="FOLDER/report"),
) -> None:
    """Print summaries of a sweep or run and write its figures and one self-contained HTML page."""
    with user_errors():
        report = build_report(folder, out=out)
    console = Console()
    if not console.is_terminal:  # a file or a pipe: do not cut the tables at 80 columns
        console.width = 200
    for name, table in report.tables.items():
        if table.height:
            console.print(_rich_table(name, table))
    for made in report.figures:
        typer.echo(f"figure: {made.path}")
    for skipped in report.skipped:
        typer.echo(f"skipped {skipped.name}: {skipped.reason}")
    typer.echo(f"report: {report.html}")


def _rich_table(title: str, df: pl.DataFrame) -> Table:
    table = Table(title=title)
    for column in df.columns:
        table.add_column(column, justify="left" if df.schema[column] == pl.Utf8 else "right")
    for row in df.iter_rows():
        table.add_row(*(format_value(v) for v in row))
    return table
