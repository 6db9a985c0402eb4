"""`fastsim sweep`: a grid of scenarios, one run folder per cell, resumable."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from fastsim.cli._errors import user_errors
from fastsim.config import parse_assignments
from fastsim.errors import InputError
from fastsim.sweep import DONE, FAILED, load_sweep, run_sweep


def sweep_command(
    sweep_file: Path = typer.Argument(..., help="Sweep TOML: a base scenario, a [grid] of config "
                                                "values and seeds (see configs/jit-adoption.toml)."),
    out: Path = typer.Option(None, "--out", help="Output folder; rerunning into it resumes.",
                             show_default="out/<sweep file name>"),
    assignments: list[str] = typer.Option(
        None, "--set", metavar="KEY=VALUE", show_default="none",
        help="Set a config key of the base scenario, dotted as in the TOML (repeatable)."),
    workers: int = typer.Option(None, "--workers", help="Local worker processes, one Numba thread "
                                                        "each.", show_default="number of cores"),
    scheduler: str = typer.Option(None, "--scheduler", metavar="tcp://HOST:PORT",
                                  help="Run the cells on this Dask scheduler's cluster instead "
                                       "(needs fastsim[dask]).", show_default="none: local pool"),
    force: bool = typer.Option(False, "--force", help="Replace the cells of a different sweep "
                                                      "found in --out (matching finished cells "
                                                      "are kept)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Run every cell of a sweep; exit 0 if all succeeded, 1 if any failed."""
    with user_errors():
        if workers is not None and workers < 1:
            raise InputError("--workers", None, f"expected a number >= 1, got {workers}")
        if workers is not None and scheduler:
            raise InputError("--workers", None, "give either --workers or --scheduler, not both")
        sweep = load_sweep(sweep_file, overrides=parse_assignments(assignments or []))
        out_dir = out or Path("out") / sweep_file.stem
        console = Console(stderr=True)
        console.quiet = quiet or not console.is_terminal
        with Progress(TextColumn("cells"), BarColumn(),
                      TextColumn("{task.fields[done]} done, {task.fields[failed]} failed, "
                                 "{task.fields[remaining]} remaining"),
                      TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
                      console=console) as bar:
            task = bar.add_task("cells", total=len(sweep.cells), done=0, failed=0,
                                remaining=len(sweep.cells))

            def progress(done: int, failed: int, remaining: int) -> None:
                bar.update(task, completed=done + failed, done=done, failed=failed,
                           remaining=remaining)

            outcome = run_sweep(sweep, out=out_dir, workers=workers, scheduler=scheduler,
                                force=force, progress=progress)
    for record in outcome.cells:
        if record["status"] == FAILED:
            typer.echo(f"failed {record['path']}: {record['error']}", err=True)
    done, failed = outcome.count(DONE), outcome.count(FAILED)
    typer.echo(f"{len(outcome.cells)} cells: {done} done ({outcome.skipped} finished before), "
               f"{failed} failed; {out_dir / 'summary.parquet'}; see: fastsim report {out_dir}")
    raise typer.Exit(0 if done == len(outcome.cells) else 1)
