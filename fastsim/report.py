"""Reports: Polars summaries, PNG figures and one self-contained HTML page for a sweep folder or a
single run folder. The CLI's `report` wraps :func:`build_report`.

Each figure is made when its data exist; otherwise the report says which it skipped and why
(the JIT columns and the timeline are written only by runs that record them).
"""

from __future__ import annotations

import base64
import html
import json
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from fastsim.errors import InputError
from fastsim.staging import staged_file

# preferred axes: success against adoption, one line per variant, when a sweep varies them
X_FIRST = "jit.adoption"
LINE_FIRST = "jit.variant"
JIT_SUMMARY = ("jit_events", "jit_rescued", "rebalance_fees_msat")
MAX_LINES = 12  # more groups than this would make a figure unreadable; the first ones are drawn


@dataclass
class Runs:
    """The finished runs of a folder, their grid values and their summary rows."""

    folder: Path
    title: str
    grid: list[str]  # grid keys, in the sweep's order (none for a single run)
    cells: pl.DataFrame  # one row per cell: grid values, seed, status, error, path, summary columns

    @property
    def done(self) -> pl.DataFrame:
        return self.cells.filter(pl.col("status") == "done")

    @property
    def varying(self) -> list[str]:
        """The grid keys that take more than one value among the finished runs."""
        done = self.done
        return [k for k in self.grid if done[k].n_unique() > 1]

    def label(self, row: dict, keys: list[str]) -> str:
        if not keys:
            return self.title
        short = {k: k.rsplit(".", 1)[-1] for k in keys}
        if len(set(short.values())) < len(short):  # two keys end alike: keep them whole
            short = {k: k for k in keys}
        return ", ".join(f"{short[k]}={row[k]}" for k in keys)

    def table(self, name: str, columns: list[str]) -> pl.DataFrame | None:
        """``name``.parquet of every finished run, with the grid values and seed; None if any run
        lacks it or one of ``columns``."""
        frames = []
        for row in self.done.iter_rows(named=True):
            path = self.folder / row["path"] / f"{name}.parquet"
            if not path.is_file() or not set(columns) <= set(pl.read_parquet_schema(path)):
                return None
            keys = {k: row[k] for k in [*self.varying, "seed"] if k in row}
            frames.append(pl.read_parquet(path, columns=columns).with_columns(
                *(pl.lit(v).alias(k) for k, v in keys.items())))
        return pl.concat(frames, how="diagonal_relaxed") if frames else None


def load_runs(folder: str | Path) -> Runs:
    """A sweep folder (sweep.json, summary.parquet) or a `fastsim run` folder (run.json)."""
    folder = Path(folder)
    if (folder / "sweep.json").is_file() and (folder / "summary.parquet").is_file():
        record = json.loads((folder / "sweep.json").read_text())
        grid = list(record["definition"]["grid"])
        return Runs(folder=folder, title=Path(record["sweep_file"]).stem, grid=grid,
                    cells=pl.read_parquet(folder / "summary.parquet"))
    if (folder / "run.json").is_file() and (folder / "summary.parquet").is_file():
        info = json.loads((folder / "run.json").read_text())
        cells = pl.read_parquet(folder / "summary.parquet").with_columns(
            pl.lit(info.get("seed")).alias("seed"), pl.lit("done").alias("status"),
            pl.lit(None, pl.Utf8).alias("error"), pl.lit(".").alias("path"))
        return Runs(folder=folder, title=info.get("config", {}).get("name", folder.name), grid=[],
                    cells=cells)
    raise InputError(folder, None, "is neither a sweep folder (sweep.json, summary.parquet) nor a "
                                   "run folder (run.json, summary.parquet)")


# ---------------------------------------------------------------- summaries


def group_summary(runs: Runs) -> pl.DataFrame:
    """One row per combination of grid values: seeds, success rate mean and spread over seeds,
    attempts, fees, completion, failures, and the JIT columns where the runs used JIT."""
    done = runs.done
    if done.is_empty():
        return pl.DataFrame()
    # columns that are zero in every run (no such failure, JIT off) would only widen the table
    failures = [c for c in done.columns if c.startswith("failed_") and done[c].sum() > 0]
    jit = [c for c in JIT_SUMMARY if c in done.columns and done[c].sum() > 0]
    aggs = [pl.len().alias("seeds"),
            pl.col("success_rate").mean().alias("success_rate"),
            pl.col("success_rate").std().alias("success_rate_std"),
            pl.col("mean_attempts").mean(), pl.col("median_fee_ppm").mean(),
            pl.col("p95_completion_s").mean(),
            *(pl.col(c).mean() for c in jit),
            *(pl.col(c).sum() for c in failures)]
    if runs.varying:
        return done.group_by(runs.varying, maintain_order=True).agg(aggs)
    return done.select(aggs)


def failed_cells(runs: Runs) -> pl.DataFrame:
    return runs.cells.filter(pl.col("status") != "done").select("path", "status", "error")


# ---------------------------------------------------------------- figures


@dataclass
class Skipped:
    name: str
    reason: str


@dataclass
class Made:
    name: str
    title: str
    path: Path


@dataclass
class Report:
    runs: Runs
    tables: dict[str, pl.DataFrame]
    figures: list[Made] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    html: Path | None = None


def _axes(runs: Runs) -> tuple[str | None, list[str]]:
    """The grid key for the x axis (adoption first, else the first numeric key, else the first
    key) and the keys that tell lines apart (variant first)."""
    grid = runs.varying
    if not grid:
        return None, []
    numeric = [k for k in grid if runs.cells.schema[k].is_numeric()]
    x = X_FIRST if X_FIRST in grid else (numeric or grid)[0]
    lines = sorted((k for k in grid if k != x), key=lambda k: k != LINE_FIRST)
    return x, lines


def _groups(runs: Runs, frame: pl.DataFrame, keys: list[str]):
    """(label, rows) per combination of ``keys`` in ``frame``, at most MAX_LINES of them."""
    if not keys:
        return [(runs.title, frame)]
    parts = frame.partition_by(keys, maintain_order=True, as_dict=True)
    return [(runs.label(dict(zip(keys, values)), keys), rows)
            for values, rows in list(parts.items())[:MAX_LINES]]


def _success(runs: Runs, ax) -> str | None:
    x, lines = _axes(runs)
    if x is None:
        return "one scenario only: success rate needs a grid key that varies to plot against"
    done = runs.done
    numeric = done.schema[x].is_numeric()
    ticks = done[x].unique(maintain_order=True).to_list()
    for label, rows in _groups(runs, done, lines):
        stats = rows.group_by(x, maintain_order=True).agg(
            pl.col("success_rate").mean().alias("mean"),
            pl.col("success_rate").std().fill_null(0.0).alias("std")).sort(x)
        xs = stats[x].to_list() if numeric else [ticks.index(v) for v in stats[x]]
        ax.errorbar(xs, stats["mean"] * 100, yerr=stats["std"] * 100, marker="o", capsize=3,
                    label=label if lines else None)
    if not numeric:
        ax.set_xticks(range(len(ticks)), [str(t) for t in ticks])
    ax.set_xlabel(x)
    ax.set_ylabel("payments succeeded, % (mean ± sd over seeds)")
    ax.set_title(f"Success rate against {x}" + (f", per {lines[0]}" if lines else ""))
    return None


def _fees(runs: Runs, ax) -> str | None:
    done = runs.done.with_columns(
        (pl.col("fees_msat") * 1e6 / pl.col("volume_succeeded_msat")).alias("fee_ppm_paid"))
    for label, rows in _groups(runs, done, runs.varying):
        ax.scatter(rows["success_rate"] * 100, rows["fee_ppm_paid"], label=label)
    ax.set_xlabel("payments succeeded, % (one point per seed)")
    ax.set_ylabel("fees paid, ppm of the amount succeeded")
    return None


def _rebalance_fees(runs: Runs, ax) -> str | None:
    nodes = runs.table("nodes", ["rebalance_fees_msat", "rebalances"])
    if nodes is None:
        return "no JIT columns in these runs (nodes.parquet has no rebalance_fees_msat)"
    nodes = nodes.filter(pl.col("rebalances") > 0)
    if nodes.is_empty():
        return "no node rebalanced in these runs"
    groups = _groups(runs, nodes, runs.varying)
    ax.boxplot([rows["rebalance_fees_msat"].to_numpy() / 1000 for _, rows in groups])
    ax.set_xticks(range(1, len(groups) + 1), [label for label, _ in groups], rotation=30,
                  ha="right", fontsize=7)
    ax.set_ylabel("rebalance fees per JIT node that rebalanced, sat")
    return None


def _completion(runs: Runs, ax) -> str | None:
    payments = runs.table("payments", ["succeeded", "completion_s"])
    if payments is None or payments.filter(pl.col("succeeded")).is_empty():
        return "no succeeded payment in these runs"
    for label, rows in _groups(runs, payments.filter(pl.col("succeeded")), runs.varying):
        times = rows["completion_s"].sort().to_numpy()
        ax.step(times, (1 + pl.int_range(len(times), eager=True).to_numpy()) / len(times),
                where="post", label=label)
    ax.set_xscale("log")
    ax.set_xlabel("completion time of succeeded payments, s (seeds pooled)")
    ax.set_ylabel("share of payments")
    return None


def _failures(runs: Runs, ax) -> str | None:
    table = group_summary(runs)
    reasons = [c for c in table.columns if c.startswith("failed_")]
    if not reasons:
        return "no payment failed in these runs"
    labels = [runs.label(row, runs.varying) for row in table.iter_rows(named=True)]
    bottom = [0.0] * table.height
    for reason in reasons:
        share = (table[reason] / table["seeds"]).to_list()
        ax.bar(range(table.height), share, bottom=bottom, label=reason.removeprefix("failed_"))
        bottom = [b + s for b, s in zip(bottom, share)]
    ax.set_xticks(range(table.height), labels, rotation=30, ha="right", fontsize=7)
    ax.set_ylabel("failed payments per run (mean over seeds)")
    return None


def _imbalance(runs: Runs, ax) -> str | None:
    timeline = runs.table("timeline", ["t_s", "imbalance"])
    if timeline is None:
        return "these runs record no timeline.parquet (t_s, imbalance)"
    for label, rows in _groups(runs, timeline, runs.varying):
        # each seed samples at its own moments: average over seeds within steps of the time axis
        step = max(rows["t_s"].max() / 50, 1e-9)
        stats = (rows.with_columns((pl.col("t_s") / step).round(0).mul(step).alias("t_s"))
                 .group_by("t_s").agg(pl.col("imbalance").mean()).sort("t_s"))
        ax.plot(stats["t_s"], stats["imbalance"], label=label)
    ax.set_xlabel("simulated time, s")
    ax.set_ylabel("mean Gini of nodes' balance shares (mean over seeds)")
    return None


FIGURES = {
    "success_rate": ("Success rate against the grid, error bars over seeds", _success),
    "fees_vs_success": ("Fees paid against success", _fees),
    "rebalance_fees": ("Rebalance fees per JIT node", _rebalance_fees),
    "completion_cdf": ("Completion-time CDF", _completion),
    "failure_reasons": ("Failure reasons per cell", _failures),
    "imbalance": ("Network imbalance over time", _imbalance),
}


def _figure(name: str, title: str, draw, runs: Runs, out: Path) -> Made | Skipped:
    # imported here: matplotlib took a third of every `fastsim` command's start-up
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7.5, 4.5), layout="constrained")
    ax = fig.subplots()
    reason = draw(runs, ax)
    if reason:
        return Skipped(name, reason)
    if not ax.get_title():
        ax.set_title(title)
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7)
    path = out / f"{name}.png"
    with staged_file(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    return Made(name, title, path)


# ---------------------------------------------------------------- the page


def _html_table(df: pl.DataFrame) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in df.columns)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(format_value(v))}</td>" for v in row)
                   + "</tr>" for row in df.iter_rows())
    return f"<table><tr>{head}</tr>{body}</table>"


def format_value(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return "n/a" if value != value else f"{value:,.4g}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def _page(report: Report) -> str:
    parts = [f"<h1>fastsim report: {html.escape(report.runs.title)}</h1>",
             f"<p>{html.escape(str(report.runs.folder))}</p>"]
    for name, table in report.tables.items():
        if table.height:
            parts += [f"<h2>{html.escape(name)}</h2>", _html_table(table)]
    for made in report.figures:
        data = base64.b64encode(made.path.read_bytes()).decode()
        parts += [f"<h2>{html.escape(made.title)}</h2>",
                  f'<img alt="{html.escape(made.title)}" src="data:image/png;base64,{data}">']
    if report.skipped:
        parts.append("<h2>Skipped figures</h2><ul>" + "".join(
            f"<li>{html.escape(s.name)}: {html.escape(s.reason)}</li>" for s in report.skipped)
            + "</ul>")
    style = ("body{font-family:sans-serif;max-width:70em;margin:2em auto}"
             "table{border-collapse:collapse;font-size:.85em}"
             "td,th{border:1px solid #ccc;padding:.2em .5em;text-align:right}img{max-width:100%}")
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>fastsim report: "
            f"{html.escape(report.runs.title)}</title><style>{style}</style></head><body>"
            + "\n".join(parts) + "</body></html>\n")


def build_report(folder: str | Path, *, out: str | Path | None = None) -> Report:
    """Summaries, figures (PNG) and ``report.html`` for ``folder``, written to ``out``
    (default: ``folder/report``)."""
    runs = load_runs(folder)
    out = Path(out) if out is not None else runs.folder / "report"
    out.mkdir(parents=True, exist_ok=True)
    report = Report(runs=runs, tables={"groups": group_summary(runs),
                                       "failed cells": failed_cells(runs)})
    if runs.done.is_empty():
        report.skipped = [Skipped(name, "no finished run in this folder") for name in FIGURES]
    else:
        for name, (title, draw) in FIGURES.items():
            made = _figure(name, title, draw, runs, out)
            (report.figures if isinstance(made, Made) else report.skipped).append(made)
    report.html = out / "report.html"
    with staged_file(report.html) as tmp:
        tmp.write_text(_page(report))
    return report


__all__ = ["FIGURES", "Report", "Runs", "build_report", "failed_cells", "format_value",
           "group_summary", "load_runs"]
