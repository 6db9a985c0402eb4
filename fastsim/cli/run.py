"""`fastsim run`: one scenario, a printed summary, Parquet tables and run.json in a folder."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
)

from fastsim.cli._errors import user_errors
from fastsim.config import load_config, parse_assignments
from fastsim.engine import event_loop_compiled
from fastsim.errors import InputError
from fastsim.results import check_out_dir, write_results
from fastsim.scenario import run_scenario


def run_command(
    config: Path = typer.Argument(None, help="Scenario TOML (see configs/default.toml); defaults apply "
                                             "to every key it leaves out.", show_default="none"),
    graph: Path = typer.Option(None, "--graph", help="Network: a snapshot (CLN, lnd, CLoTH) or a "
                                                     "network Parquet file.",
                               show_default="network.source, synthetic"),
    synthetic: int = typer.Option(None, "--synthetic", help="Use a synthetic LN-like graph of N nodes.",
                                  show_default="network.synthetic_nodes, 2000"),
    payments: int = typer.Option(None, "--payments", help="Number of payments to generate.",
                                 show_default="workload.n_payments, 10000"),
    seed: int = typer.Option(None, "--seed", help="Scenario seed.", show_default="seed, 1"),
    mode: str = typer.Option(None, "--mode", help="Engine mode: event (reference) or atomic (fast).",
                             show_default="engine.mode, event"),
    assignments: list[str] = typer.Option(
        None, "--set", metavar="KEY=VALUE", show_default="none",
        help="Set any config key, dotted as in the TOML (repeatable), e.g. --set sender.cost_model=lnd "
             "--set jit.adoption=0.5."),
    out: Path = typer.Option(None, "--out", help="Output folder.", show_default="out/<scenario name>"),
    record_htlcs: bool = typer.Option(False, "--record-htlcs",
                                      help="Also write htlcs.parquet (every HTLC and its association)."),
    check_invariants: bool = typer.Option(True, "--check-invariants/--no-check-invariants",
                                          help="Check DESIGN.md 2.8 invariants at the end of the run."),
    debug_invariants: bool = typer.Option(False, "--debug-invariants",
                                          help="Also check channel sums after every event (slower)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Run one scenario and write DIR/payments.parquet, nodes, channels, summary, jit_events,
    timeline (and htlcs with --record-htlcs) and run.json."""
    with user_errors():
        overrides = parse_assignments(assignments or [])
        if graph is not None and synthetic is not None:
            raise InputError("--graph", None, "give either --graph or --synthetic, not both")
        options = {"network.source": ("--graph", None if graph is None else str(graph)),
                   "workload.n_payments": ("--payments", payments), "seed": ("--seed", seed),
                   "engine.mode": ("--mode", mode)}
        if synthetic is not None:
            options["network.source"] = ("--synthetic", "synthetic")
            options["network.synthetic_nodes"] = ("--synthetic", synthetic)
        sources = {}
        for dotted, (option, value) in options.items():
            if value is not None:
                overrides[dotted] = value
                sources[dotted] = option
        cfg = load_config(config, overrides=overrides, sources=sources)
        out_dir = out or Path("out") / cfg.name
        check_out_dir(out_dir)  # before the run, which a bad --out would otherwise cost
    console = Console(stderr=True, quiet=quiet)
    compiling = not event_loop_compiled(cfg)
    if compiling:
        console.print("compiling the simulation kernels, once: 40-80 s on 2 cores")
    with user_errors():
        with Progress(TextColumn("simulating"), BarColumn(), MofNCompleteColumn(),
                      TimeRemainingColumn(), console=console, transient=True) as bar:
            task = bar.add_task("payments", total=None)
            result, run_info = run_scenario(
                cfg, check_invariants=check_invariants, debug_invariants=debug_invariants,
                record_htlcs=record_htlcs,
                progress=lambda done, total: bar.update(task, completed=done, total=total))
        write_results(result, out_dir, run_info=run_info, record_htlcs=record_htlcs)
    print_summary(result.summary.row(0, named=True), run_info, out_dir, compiling=compiling)


def print_summary(s: dict, run_info: dict, out_dir: Path, *, compiling: bool = False) -> None:
    t = run_info["timings"]
    wl = run_info["workload"]
    if "candidates" in wl:
        where = "the largest strongly connected component" if wl["endpoints"] == "scc" else "all nodes"
        typer.echo(f"endpoints drawn from {where}: {wl['candidates']:,} nodes "
                   f"({wl['left_out']:,} left out)")
    typer.echo(f"payments {s['payments']:,}: {s['succeeded']:,} succeeded "
               f"({100 * s['success_rate']:.1f}%); {100 * s['never_routed_share']:.1f}% found no route, "
               f"the others made {_fmt(s['mean_attempts'], 2)} attempts on average")
    failures = {k.removeprefix("failed_"): v for k, v in s.items() if k.startswith("failed_") and v}
    if failures:
        typer.echo("failures: " + ", ".join(f"{k} {v:,}" for k, v in failures.items()))
    typer.echo(f"fee ppm median {_fmt(s['median_fee_ppm'])}, p95 {_fmt(s['p95_fee_ppm'])}; "
               f"completion s p50 {_fmt(s['p50_completion_s'], 3)}, p95 {_fmt(s['p95_completion_s'], 3)}")
    rate = s["payments"] / t["simulate_s"] if t["simulate_s"] > 0 else float("inf")
    included = ", compiling the kernels included" if compiling else ""
    typer.echo(f"simulated in {t['simulate_s']:.2f} s{included} ({rate:,.0f} payments/s, "
               f"{t['events']:,} events); results in {out_dir}")


def _fmt(value, digits: int = 1) -> str:
    return "n/a" if value is None or value != value else f"{value:,.{digits}f}"
