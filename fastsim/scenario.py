"""A scenario end to end: network, liquidity, workload, simulation, checks. The CLI's `run` wraps this."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import polars as pl

from fastsim.engine import SimulationResult, simulate
from fastsim.importers import load_network
from fastsim.liquidity import initial_balances
from fastsim.network import Network
from fastsim.synth import synthesize
from fastsim.workload import generate_workload, read_workload


@dataclass
class Scenario:
    network: Network
    balances: np.ndarray
    workload: pl.DataFrame
    info: dict


def _seeds(seed: int) -> dict[str, int]:
    """Independent sub-seeds per random component, derived from the scenario seed."""
    names = ("synth", "liquidity", "workload", "engine")
    children = np.random.SeedSequence(seed).spawn(len(names))
    return {name: int(child.generate_state(1, np.uint64)[0] >> np.uint64(1))
            for name, child in zip(names, children)}


def prepare(config, *, network: Network | None = None) -> Scenario:
    """Build the network, its starting balances and the workload that ``config`` describes."""
    seeds = _seeds(config.seed)
    t0 = time.perf_counter()
    net_cfg = config.network
    if network is None:
        if net_cfg.source == "synthetic":
            network = synthesize(n_nodes=net_cfg.synthetic_nodes, seed=seeds["synth"])
        else:
            network = load_network(Path(net_cfg.source), format=net_cfg.format or None)
    t1 = time.perf_counter()
    balances = initial_balances(network, mode=config.liquidity.mode, seed=seeds["liquidity"],
                                skew=config.liquidity.skew)
    wl = config.workload
    if wl.file:
        workload = read_workload(wl.file, network)
        workload_info = {"file": wl.file}
    else:
        workload, info = generate_workload(
            network, n_payments=wl.n_payments, seed=seeds["workload"], rate_per_s=wl.rate_per_s,
            endpoints=wl.endpoints, src_weighting=wl.src_weighting, dst_weighting=wl.dst_weighting,
            zipf_merchants=wl.zipf_merchants, zipf_s=wl.zipf_s, amount=wl.amount,
            amount_median_msat=wl.amount_median_msat, amount_sigma=wl.amount_sigma,
            amount_fixed_msat=wl.amount_fixed_msat, amount_file=wl.amount_file or None)
        workload_info = asdict(info)
    info = {"network": {"source": network.source, "nodes": network.n_nodes,
                        "channels": network.n_channels},
            "workload": workload_info, "seeds": seeds,
            "timings": {"network_s": t1 - t0, "prepare_s": time.perf_counter() - t1}}
    return Scenario(network=network, balances=balances, workload=workload, info=info)


def run_scenario(config, *, network: Network | None = None, check_invariants: bool = True,
                 debug_invariants: bool = False, record_htlcs: bool = False,
                 progress=None) -> tuple[SimulationResult, dict]:
    """Prepare and simulate ``config``; returns the result and the run record for run.json.
    Without ``record_htlcs`` the HTLC rows are recycled as payments end and the result has none."""
    scenario = prepare(config, network=network)
    result = simulate(scenario.network, scenario.workload, config, balances=scenario.balances,
                      seed=scenario.info["seeds"]["engine"], debug_invariants=debug_invariants,
                      check_invariants=check_invariants, record_htlcs=record_htlcs,
                      progress=progress)
    run_info = {"config": config.to_dict(), "seed": config.seed, **scenario.info,
                "invariants_checked": check_invariants}
    run_info["timings"] = {**scenario.info["timings"], **result.timings}
    return result, run_info
