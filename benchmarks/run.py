"""fastsim's benchmark harness: medians over repeats, with the machine, written as JSON.

    python benchmarks/run.py [--quick] [--out benchmarks/results/NAME.json] [--only routes,run,...]
                             [--set sender.cost_model=lnd ...] [--against GIT_REV]

Measures (issue 7): routes/s of the routing kernel on the 2026 snapshot; events/s of the event
engine alone (first routes of a run replayed without searching); end-to-end payments/s of a
100,000-payment run on it; the same run with JIT-routing (rebalance, conditional at adoption 0.5)
and with multipart payments, interleaved with the run without; peak RSS and bytes per HTLC row;
cold and warm start-up of `fastsim run`; and the ceiling of a sweep's scaling: the same independent
runs done by one worker process in turn and by two at once.
Issue 22 added ``rows``: 20,000-payment runs on the 2026 and 2021 snapshots, defaults and the
retry-heavy ``SKEWED`` settings, per cost model; and ``scale``: `fastsim run` end to end with
1,000,000 payments on the 2026 snapshot and 10,000,000 on the synthetic default graph, each with
its peak RSS and its results read back with ``polars.scan_parquet``.
The real snapshots are read from ../shared/data beside the repo.

``--against REV`` also runs the end-to-end run, the rows and the start-up of the code at that git revision,
each repeat right before the current code's, so that the two are compared at the same machine
speed (shared machines drift by tens of percent within the hour).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import io
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SNAPSHOT = REPO.parent / "shared" / "data" / "ln-2026-02-03.listchannels.json.gz"
SNAPSHOT_2021 = REPO.parent / "shared" / "data" / "ln-2021-04-16.listchannels.json.gz"
BENCHMARKS = ("routes", "events", "run", "strategies", "rows", "scale", "startup", "parallel")
# issue 22's retry-heavy settings: depleted channels, no reserve, senders that retry for a minute
SKEWED = {"liquidity.mode": "skewed", "engine.reserve_ppm": 0, "sender.max_attempts": 10_000,
          "sender.retry_for_s": 60.0, "engine.max_hops": 27, "engine.max_cltv": 2056,
          "engine.final_cltv_delta": 40}
ROWS = {f"{year} {settings} {model}": (snapshot, {**extra, "sender.cost_model": model})
        for year, snapshot, settings, extra, models in (
            ("2026", SNAPSHOT, "defaults", {}, ("probability", "lnd", "fee")),
            ("2021", SNAPSHOT_2021, "defaults", {}, ("probability", "lnd", "fee")),
            ("2021", SNAPSHOT_2021, "skewed", SKEWED, ("lnd", "fee")))
        for model in models}


def machine() -> dict:
    import numba

    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(),
            "numba": numba.__version__, "numpy": np.__version__, "platform": platform.platform(),
            "numba_threads": numba.config.NUMBA_NUM_THREADS}


def bench_routes(network, *, n_routes: int, repeats: int) -> dict:
    """(a) routes/s of the routing kernel: random pairs in the largest SCC, 10k-1M sat.

    The queries run in a compiled loop, as in the engine, so that Python's per-call overhead is
    not measured."""
    from numba import njit

    from fastsim.engine import graph_arrays
    from fastsim.kernels.routing import (
        COST_MODELS,
        NO_FAILURE,
        ROUTE_OK,
        find_route,
        make_potential,
        make_scratch,
    )
    from fastsim.liquidity import initial_balances

    @njit
    def route_all(src, dst, amount, spendable, out_ptr, out_dir, graph, code, scratch, potential):
        own = np.full(spendable.shape[0], -1, np.int64)
        fail_amt = np.full(spendable.shape[0], NO_FAILURE, np.int64)
        n_nodes = out_ptr.shape[0] - 1
        view = (own, fail_amt, fail_amt, np.full(spendable.shape[0], np.inf),
                np.zeros(spendable.shape[0], np.int64), np.zeros(n_nodes, np.int32),
                np.zeros(n_nodes, np.int32))
        model = (np.int64(code), 1.0, 0.6, 3600.0, 100_000.0, 1000.0)
        route = (np.zeros(21, np.int64), np.zeros(21, np.int64), np.zeros(21, np.int64))
        found = 0
        for i in range(src.shape[0]):
            s = src[i]
            for k in range(out_ptr[s], out_ptr[s + 1]):
                own[out_dir[k]] = spendable[out_dir[k]]
            limits = (max(amount[i] // 200, np.int64(5000)), np.int64(20), np.int64(2016),
                      np.int64(18))
            _, status = find_route(s, dst[i], amount[i], graph, view, model, limits, scratch, route,
                                   (False, potential[0][0], potential[1][0], potential[0][0],
                                    potential[1][0]))
            found += status == ROUTE_OK
            for k in range(out_ptr[s], out_ptr[s + 1]):
                own[out_dir[k]] = -1
        return found

    rng = np.random.default_rng(0)
    scc = network.largest_scc()
    src = rng.choice(scc, n_routes)
    dst = rng.choice(scc, n_routes)
    dst = np.where(src == dst, scc[(np.searchsorted(scc, dst) + 1) % scc.size], dst)
    amount = rng.integers(10_000_000, 1_000_000_001, n_routes)
    spendable = (initial_balances(network, mode="uniform", seed=1)
                 - network.direction_capacity_msat() // 100)
    graph = graph_arrays(network)
    scratch = make_scratch(network.n_nodes, network.n_directions)
    out = {}
    for model, code in COST_MODELS.items():
        args = (spendable, network.out_ptr, network.out_dir, graph, code, scratch, make_potential())
        route_all(src[:1], dst[:1], amount[:1], *args)  # compile
        rates, found = [], 0
        for _ in range(repeats):
            t0 = time.perf_counter()
            found = route_all(src, dst, amount, *args)
            rates.append(n_routes / (time.perf_counter() - t0))
        out[model] = {"routes_per_s_median": statistics.median(rates), "routes_per_s": rates,
                      "found_share": found / n_routes}
    return out


def checkout(rev: str, into: Path) -> Path:
    """The ``fastsim`` package as of git revision ``rev``, extracted under ``into``."""
    archive = subprocess.run(["git", "-C", str(REPO), "archive", "--format=tar", rev, "fastsim"],
                             capture_output=True, check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into


def _child(code_root: Path | None) -> dict:
    """Keyword arguments of ``subprocess.run`` for a child Python that imports fastsim from
    ``code_root`` (None: ours). It runs in that folder: ``python -c`` and ``-m`` put their working
    directory ahead of PYTHONPATH, and the repo's own fastsim would shadow the baseline's."""
    env = dict(os.environ)
    if code_root is None:
        return {"env": env, "cwd": REPO}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(code_root), env.get("PYTHONPATH")]))
    return {"env": env, "cwd": code_root}


def _check_imported(path: str, code_root: Path | None) -> None:
    expected = (code_root or REPO).resolve() / "fastsim"
    if Path(path).resolve().parent != expected:
        raise SystemExit(f"a benchmark child imported {path}, not the fastsim of {expected}")


def _interleaved(measure, repeats: int, baseline: Path | None) -> tuple[list, list]:
    """``measure(code_root)`` repeated, alternating the baseline's code and ours when given."""
    ours, theirs = [], []
    for _ in range(repeats):
        if baseline is not None:
            theirs.append(measure(baseline))
        ours.append(measure(None))
    return ours, theirs


def _run_code(payments: int, overrides: dict, snapshot: Path = SNAPSHOT) -> str:
    """A child program: one run on ``snapshot`` (kernels compiled first), its figures as JSON."""
    return f"""
import json, sys, time
import fastsim
from fastsim.config import load_config


def peak_rss_mib():
    # VmHWM is this program's own peak; ru_maxrss would count the harness's RSS at the fork
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024


from fastsim.importers import load_network
from fastsim.scenario import run_scenario
from fastsim.kernels.htlcs import HTLC_DTYPES
import numpy as np
net = load_network({str(snapshot)!r})
run_scenario(load_config(None, overrides={{"workload.n_payments": 10, **{overrides!r}}}),
             network=net)  # compile or load the kernels outside the timing
cfg = load_config(None, overrides={{"workload.n_payments": {payments}, **{overrides!r}}})
t0 = time.perf_counter()
result, info = run_scenario(cfg, network=net, check_invariants=True)
wall = time.perf_counter() - t0
row_bytes = sum(np.dtype(d).itemsize for d in HTLC_DTYPES)
counts = {{k: v for k, v in result.timings.items() if k not in ("setup_s", "collect_s")}}
summary = result.summary.row(0, named=True)
print(json.dumps({{"fastsim": fastsim.__file__, "wall_s": wall, **counts,
    "htlc_rows_in_use": int(result.state["htlcs"]["payment"].shape[0]),
    "success_rate": summary["success_rate"], "jit_events": summary.get("jit_events", 0),
    "mean_attempts": summary["mean_attempts"],
    "bytes_per_htlc_row": row_bytes, "peak_rss_mib": peak_rss_mib()}}))
"""


def _measure_run(code: str, code_root: Path | None) -> dict:
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          **_child(code_root))
    record = json.loads(proc.stdout.strip().splitlines()[-1])
    _check_imported(record["fastsim"], code_root)
    return record


def _run_summary(runs: list[dict], payments: int) -> dict:
    sim = statistics.median(r["simulate_s"] for r in runs)
    return {"payments_per_s_median": payments / sim,
            "events_per_s_median": statistics.median(r["events"] / r["simulate_s"] for r in runs),
            "runs": runs}


def bench_run(*, payments: int, repeats: int, overrides: dict, baseline: Path | None = None) -> dict:
    """(c, d) end-to-end payments/s of a run on the 2026 snapshot, peak RSS, bytes per HTLC row."""
    code = _run_code(payments, overrides)
    ours, theirs = _interleaved(lambda root: _measure_run(code, root), repeats, baseline)
    out = {"payments": payments, "overrides": overrides, **_run_summary(ours, payments)}
    if baseline is not None:
        out["baseline"] = _run_summary(theirs, payments)
    return out


STRATEGIES = {
    "none": {},
    "jit_rebalance_0.5": {"jit.variant": "rebalance", "jit.adoption": 0.5},
    "jit_conditional_0.5": {"jit.variant": "conditional", "jit.adoption": 0.5},
    "mpp": {"mpp.enabled": True},
}


def bench_strategies(*, payments: int, repeats: int, overrides: dict, names: list[str]) -> dict:
    """The end-to-end run with each strategy (JIT-routing at adoption 0.5, multipart payments) and
    without, one after the other in every repeat, so that all are compared at the same machine
    speed; each strategy's payments/s also as a share of the run without."""
    codes = {name: _run_code(payments, {**overrides, **STRATEGIES[name]}) for name in names}
    runs: dict[str, list] = {name: [] for name in names}
    for _ in range(repeats):
        for name, code in codes.items():
            runs[name].append(_measure_run(code, None))
    out = {name: {"overrides": {**overrides, **STRATEGIES[name]}, **_run_summary(r, payments)}
           for name, r in runs.items()}
    base = out["none"]["payments_per_s_median"]
    for name in out:
        out[name]["share_of_none"] = out[name]["payments_per_s_median"] / base
    return {"payments": payments, **out}


def bench_rows(*, payments: int, repeats: int, baseline: Path | None = None) -> dict:
    """Issue 22's table: payments/s and mean attempts on both snapshots, defaults and the
    retry-heavy settings, per cost model; each repeat of a row right after the baseline's."""
    out = {"payments": payments}
    for name, (snapshot, overrides) in ROWS.items():
        code = _run_code(payments, overrides, snapshot)
        ours, theirs = _interleaved(lambda root: _measure_run(code, root), repeats, baseline)
        out[name] = {"overrides": overrides, **_run_summary(ours, payments),
                     "mean_attempts": ours[0]["mean_attempts"]}
        if baseline is not None:
            out[name]["baseline"] = {**_run_summary(theirs, payments),
                                     "mean_attempts": theirs[0]["mean_attempts"]}
        print(json.dumps({name: {k: v for k, v in out[name].items() if k not in ("runs", "baseline")}}),
              flush=True)
    return out


def _cli_run(args: list[str], out: Path) -> dict:
    """`fastsim run ARGS --out OUT` as its own process: wall time and its own peak RSS, and
    whether polars.scan_parquet reads what it wrote."""
    import polars as pl

    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "fastsim", "run", *args, "--out", str(out),
                             "--quiet"], stdout=subprocess.DEVNULL, **_child(None))
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    if status != 0:
        raise SystemExit(f"fastsim run {' '.join(args)} failed ({status})")
    payments = pl.scan_parquet(out / "payments.parquet")
    rows, succeeded = payments.select(pl.len(), pl.col("succeeded").sum()).collect().row(0)
    return {"wall_s": wall, "peak_rss_mib": usage.ru_maxrss / 1024, "payments_read": rows,
            "success_rate": succeeded / rows,
            "run": json.loads((out / "run.json").read_text())["timings"]}


def bench_scale(*, payments_snapshot: int, payments_synthetic: int) -> dict:
    """A long run end to end (`fastsim run`, invariants checked, results written): on the 2026
    snapshot and on the synthetic default graph, with each process's peak RSS."""
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, args in ((f"snapshot_2026_{payments_snapshot}",
                            ["--graph", str(SNAPSHOT), "--payments", str(payments_snapshot)]),
                           (f"synthetic_{payments_synthetic}",
                            ["--payments", str(payments_synthetic)])):
            out[name] = _cli_run(args, Path(tmp) / name)
            print(json.dumps({name: {k: v for k, v in out[name].items() if k != "run"}}), flush=True)
    return out


def bench_events(network, *, payments: int, repeats: int) -> dict:
    """(b) events/s of the event engine alone: the first routes of a run, replayed without searching."""
    from fastsim.config import load_config
    from fastsim.engine import recorded_first_routes, simulate
    from fastsim.scenario import prepare

    cfg = load_config(None, overrides={"workload.n_payments": payments, "sender.max_attempts": 1})
    scenario = prepare(cfg, network=network)
    recorded = simulate(scenario.network, scenario.workload, cfg, balances=scenario.balances)
    routes = recorded_first_routes(recorded, cfg.engine.max_hops)
    rates = []
    for _ in range(repeats + 1):  # the first replay compiles nothing new but warms the caches
        replay = simulate(scenario.network, scenario.workload, cfg, balances=scenario.balances,
                          first_routes=routes)
        rates.append(replay.timings["events"] / replay.timings["simulate_s"])
    return {"payments": payments, "events": replay.timings["events"],
            "events_per_s_median": statistics.median(rates[1:]), "events_per_s": rates[1:]}


def bench_startup(*, repeats: int, baseline: Path | None = None) -> dict:
    """(e) cold (empty Numba cache) and warm start-up of a tiny `fastsim run`."""
    args = [sys.executable, "-m", "fastsim", "run", "--synthetic", "100", "--payments", "10", "--quiet"]

    def timed(child) -> float:
        with tempfile.TemporaryDirectory() as out:
            t0 = time.perf_counter()
            subprocess.run(args + ["--out", out], check=True, capture_output=True, **child)
            return time.perf_counter() - t0

    def measure(code_root):
        child = _child(code_root)
        probe = subprocess.run([sys.executable, "-c", "import fastsim; print(fastsim.__file__)"],
                               check=True, capture_output=True, text=True, **child)
        _check_imported(probe.stdout.strip(), code_root)
        with tempfile.TemporaryDirectory() as cache:
            child["env"]["NUMBA_CACHE_DIR"] = cache
            return {"cold_s": timed(child), "warm_s": timed(child)}

    # each repeat starts from an empty cache: one cold start, then one warm
    ours, theirs = _interleaved(measure, repeats, baseline)

    def summary(runs):
        return {"cold_s_median": statistics.median(r["cold_s"] for r in runs),
                "warm_s_median": statistics.median(r["warm_s"] for r in runs), "runs": runs}

    out = summary(ours)
    if baseline is not None:
        out["baseline"] = summary(theirs)
    return out


def bench_parallel(*, runs: int, payments: int, repeats: int) -> dict:
    """(f) until there is a sweep: ``runs`` independent `fastsim run`s (seeds 1..runs, 2026 snapshot)
    by 1 and by 2 worker processes, each with one Numba thread, as a sweep's workers would have;
    beside them one run with 1 and with 2 threads, to show what a run's own threads give."""
    def fastsim_run(seed: int, threads: int) -> None:
        child = _child(None)
        child["env"]["NUMBA_NUM_THREADS"] = str(threads)
        with tempfile.TemporaryDirectory() as out:
            subprocess.run([sys.executable, "-m", "fastsim", "run", "--graph", str(SNAPSHOT),
                            "--payments", str(payments), "--seed", str(seed), "--out", out,
                            "--set", f"engine.threads={threads}", "--quiet"], check=True,
                           capture_output=True, **child)

    def wall(workers: int, threads: int, seeds) -> float:
        t0 = time.perf_counter()
        with concurrent.futures.ThreadPoolExecutor(workers) as pool:
            list(pool.map(lambda seed: fastsim_run(seed, threads), seeds))
        return time.perf_counter() - t0

    fastsim_run(1, 1)  # compile or load the kernels outside the timing
    walls: dict[str, list[float]] = {"workers_1": [], "workers_2": [], "threads_1": [],
                                     "threads_2": []}
    seeds = range(1, runs + 1)
    for _ in range(repeats):
        for workers in (1, 2):
            walls[f"workers_{workers}"].append(wall(workers, 1, seeds))
        for threads in (1, 2):
            walls[f"threads_{threads}"].append(wall(1, threads, [1]))
    median = {name: statistics.median(values) for name, values in walls.items()}
    return {"runs": runs, "payments_per_run": payments,
            "runs_per_s_median": {f"workers_{w}": runs / median[f"workers_{w}"] for w in (1, 2)},
            "speedup_2_workers": median["workers_1"] / median["workers_2"],
            "speedup_2_threads_one_run": median["threads_1"] / median["threads_2"],
            "wall_s": walls}


def _overrides(parser: argparse.ArgumentParser, items: list[str]) -> dict:
    """``--set`` items as config overrides, checked before anything runs."""
    from fastsim.config import load_config, parse_assignments
    from fastsim.errors import FastsimError

    try:
        overrides = parse_assignments(items)
        load_config(None, overrides=overrides)
    except FastsimError as err:
        parser.error(str(err))
    return overrides


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer routes, payments and repeats")
    parser.add_argument("--only", default=",".join(BENCHMARKS),
                        help=f"comma-separated, of: {', '.join(BENCHMARKS)}")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="config override for the end-to-end run, e.g. sender.cost_model=lnd")
    parser.add_argument("--against", metavar="GIT_REV", default=None,
                        help="also run and start the code of this revision, interleaved with ours")
    parser.add_argument("--scale", default="1000000,10000000", metavar="SNAPSHOT,SYNTHETIC",
                        help="payments of the scale runs: on the 2026 snapshot, on the synthetic graph")
    parser.add_argument("--strategies", default=",".join(STRATEGIES),
                        help=f"comma-separated, of: {', '.join(STRATEGIES)} (none is always run)")
    args = parser.parse_args()
    overrides = _overrides(parser, args.set)
    only = set(args.only.split(","))
    if only - set(BENCHMARKS):
        parser.error(f"--only: unknown {', '.join(sorted(only - set(BENCHMARKS)))}; "
                     f"expected some of {', '.join(BENCHMARKS)}")
    strategies = ["none"] + [s for s in args.strategies.split(",") if s != "none"]
    if set(strategies) - set(STRATEGIES):
        parser.error(f"--strategies: unknown {', '.join(sorted(set(strategies) - set(STRATEGIES)))}; "
                     f"expected some of {', '.join(STRATEGIES)}")
    try:
        scale = [int(n) for n in args.scale.split(",")]
    except ValueError:
        scale = []
    if len(scale) != 2 or min(scale) < 1:
        parser.error(f"--scale: expected two payment counts >= 1 (snapshot,synthetic), got {args.scale!r}")
    repeats = 1 if args.quick else 3
    if not SNAPSHOT.is_file():
        sys.exit(f"the 2026 snapshot is needed at {SNAPSHOT}")
    from fastsim.importers import load_network

    report: dict = {"machine": machine(), "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    baseline_dir = tempfile.TemporaryDirectory() if args.against else None
    baseline = None
    if args.against:
        try:
            baseline = checkout(args.against, Path(baseline_dir.name))
        except subprocess.CalledProcessError as err:
            parser.error(f"--against {args.against}: {err.stderr.decode().strip()}")
        report["against"] = args.against
    network = load_network(SNAPSHOT)
    if "routes" in only:
        report["routes"] = bench_routes(network, n_routes=1000 if args.quick else 5000,
                                        repeats=repeats)
        print(json.dumps({"routes": report["routes"]}, indent=1), flush=True)
    if "events" in only:
        report["events"] = bench_events(network, payments=20_000 if args.quick else 100_000,
                                        repeats=repeats)
        print(json.dumps({"events": report["events"]}, indent=1), flush=True)
    if "run" in only:
        n = 20_000 if args.quick else 100_000
        report["run_baseline"] = bench_run(payments=n, repeats=repeats, overrides=overrides,
                                           baseline=baseline)
        print(json.dumps({"run_baseline": report["run_baseline"]}, indent=1), flush=True)
    if "strategies" in only:
        report["strategies"] = bench_strategies(payments=20_000 if args.quick else 100_000,
                                                repeats=repeats, overrides=overrides,
                                                names=strategies)
        print(json.dumps({"strategies": {k: v["payments_per_s_median"] if isinstance(v, dict) else v
                                         for k, v in report["strategies"].items()}}, indent=1),
              flush=True)
    if "rows" in only:
        report["rows"] = bench_rows(payments=2_000 if args.quick else 20_000, repeats=repeats,
                                    baseline=baseline)
    if "scale" in only:
        report["scale"] = bench_scale(payments_snapshot=scale[0], payments_synthetic=scale[1])
    if "startup" in only:
        report["startup"] = bench_startup(repeats=repeats, baseline=baseline)
        print(json.dumps({"startup": report["startup"]}, indent=1), flush=True)
    if "parallel" in only:
        report["parallel"] = bench_parallel(runs=4, payments=5_000 if args.quick else 30_000,
                                            repeats=repeats)
        print(json.dumps({"parallel": report["parallel"]}, indent=1), flush=True)
    report["peak_rss_mib_harness"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out = args.out or REPO / "benchmarks" / "results" / f"{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
