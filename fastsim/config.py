"""Scenario configuration: TOML in, typed frozen dataclasses out; errors name the file and the key.

Each key is declared once, as a dataclass field whose metadata holds its help text and its
allowed choices or range; validation, ``to_dict`` and the documentation derive from that.
"""

from __future__ import annotations

import difflib
import math
import os
import tomllib
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from fastsim.errors import InputError
from fastsim.synth import MAX_NODES

#: what a run may hold per payment, a bound on the safe side: with --record-htlcs every HTLC row
#: stays (tables start at 32 a payment); without, HTLC rows are recycled and 1,000,000 payments on
#: the 2026 snapshot peaked at 1,155 MiB, 423 of them before the first payment
BYTES_PER_PAYMENT = 2_000


def max_payments() -> tuple[int, str]:
    """The most payments this machine's memory can hold, and why: a bound checked before a run."""
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return memory // BYTES_PER_PAYMENT, (f"a run needs at least {BYTES_PER_PAYMENT:,} bytes per payment "
                                         f"and this machine has {memory / 2**30:.1f} GiB of memory")


def key(default, help: str, *, choices: tuple | None = None, low=None, high=None,
        low_open: bool = False, path: bool = False):
    """A config key: its default, help text and allowed values; ``path``: a file's path unless it is
    the default, relative to the scenario file's folder."""
    return field(default=default, metadata={"help": help, "choices": choices, "low": low,
                                            "high": high, "low_open": low_open, "path": path})


@dataclass(frozen=True)
class NetworkConfig:
    source: str = key("synthetic", 'the network: "synthetic" or a path to a snapshot or network Parquet',
                      path=True)
    synthetic_nodes: int = key(2000, "nodes of the synthetic LN-like graph", low=10, high=MAX_NODES)
    format: str = key("", 'snapshot format, "" to detect', choices=("", "cln", "lnd", "cloth", "parquet"))


@dataclass(frozen=True)
class LiquidityConfig:
    mode: str = key("uniform", "initial split of each channel",
                    choices=("uniform", "half", "source", "skewed"))
    skew: float = key(0.9, "skewed mode: mean share of the capacity on the rich side", low=0.5, high=1.0)


@dataclass(frozen=True)
class WorkloadConfig:
    n_payments: int = key(10_000, "payments to generate", low=1, high=max_payments)
    rate_per_s: float = key(10.0, "Poisson arrival rate, payments per second", low=0.0, low_open=True)
    endpoints: str = key("scc", "draw endpoints from the largest SCC of usable channels, or all nodes",
                         choices=("scc", "all"))
    src_weighting: str = key("uniform", "how senders are drawn",
                             choices=("uniform", "degree", "capacity"))
    dst_weighting: str = key("uniform", "how receivers are drawn",
                             choices=("uniform", "degree", "capacity", "zipf"))
    zipf_merchants: int = key(100, "zipf receivers: number of merchants", low=1)
    zipf_s: float = key(1.0, "zipf receivers: exponent", low=0.0, low_open=True)
    amount: str = key("lognormal", "payment amounts", choices=("lognormal", "fixed", "file"))
    amount_median_msat: int = key(50_000_000, "lognormal amounts: median (msat)", low=1)
    amount_sigma: float = key(0.7, "lognormal amounts: sigma of the log", low=0.0)
    amount_fixed_msat: int = key(10_000_000, "fixed amounts: the amount (msat)", low=1)
    amount_file: str = key("", "file amounts: CSV or Parquet with an amount_msat column", path=True)
    file: str = key("", "read the workload from this CSV or Parquet file instead of generating it "
                        "(columns: see README)", path=True)


@dataclass(frozen=True)
class SenderConfig:
    cost_model: str = key("probability", "route cost: fee only, lnd-like, or fee + mu * -log P",
                          choices=("fee", "lnd", "probability"))
    mu: float = key(1.0, "probability model: weight of -log P (msat per sat of amount)", low=0.0)
    max_attempts: int = key(10, "attempts per payment before giving up", low=1, high=10_000)
    retry_for_s: float = key(60.0, "stop retrying after this many seconds", low=0.0, low_open=True)
    maxfeepercent: float = key(0.5, "fee budget, percent of the amount", low=0.0, high=100.0)
    exemptfee_msat: int = key(5000, "fees up to this are always accepted", low=0)
    apriori_hop_probability: float = key(0.6, "lnd model: a-priori hop success probability",
                                         low=0.0, high=1.0, low_open=True)
    penalty_half_life_s: float = key(3600.0, "half-life of what a failure taught", low=0.0,
                                     low_open=True)
    attempt_cost_msat: int = key(100_000, "lnd model: fixed cost of an attempt (msat)", low=0)
    attempt_cost_ppm: int = key(1000, "lnd model: proportional cost of an attempt (ppm)", low=0)
    remember_failures: bool = key(True, "remember failures across payments (with the half-life)")
    overpay_ppm: int = key(0, "extra fee per hop, ppm of the amount, for every forwarding node (scaled "
                           "down to keep the total fee within maxfeepercent)", low=0, high=1_000_000)


@dataclass(frozen=True)
class EngineConfig:
    mode: str = key("event", "event (reference, concurrent) or atomic (one payment at a time)",
                    choices=("event", "atomic"))
    latency_ms: float = key(100.0, "per-hop message latency", low=0.0)
    latency_jitter_ms: float = key(1.0, "added latency: this times abs(N(0,1))", low=0.0)
    reserve_ppm: int = key(10_000, "channel reserve per side, ppm of capacity", low=0, high=1_000_000)
    max_accepted_htlcs: int = key(483, "HTLC slots per direction", low=1, high=483)
    max_hops: int = key(20, "longest route", low=1, high=27)
    max_cltv: int = key(2016, "largest total CLTV of a route (blocks)", low=1)
    final_cltv_delta: int = key(18, "receiver's final CLTV delta (blocks)", low=0)
    unresponsive_share: float = key(0.0, "share of nodes that accept HTLCs but never answer",
                                    low=0.0, high=1.0)
    htlc_timeout_s: float = key(600.0, "an HTLC to an unresponsive peer fails after this long "
                                "(stands for its CLTV expiry)", low=0.0, low_open=True)
    threads: int = key(1, "threads computing routes ahead; 0: every core Numba may use "
                       "(NUMBA_NUM_THREADS). One by default: on a busy machine a second thread "
                       "slowed runs 2-3x, and sweeps run one process per core", low=0, high=1024)
    timeline_points: int = key(50, "rows of timeline.parquet (success so far and the network's "
                               "imbalance over simulated time) between the first and the last; "
                               "0: none", low=0, high=100_000)


@dataclass(frozen=True)
class JitConfig:
    variant: str = key("none", "JIT-routing at forwarding nodes short of liquidity: none; the original "
                       "unconditional rebalance; a circle on the payment's hash netted with the "
                       "forward (settles only if the payment does); or several such circles from "
                       "several channels at once", choices=("none", "rebalance", "conditional", "multi"))
    adoption: float = key(0.0, "share of nodes that run JIT", low=0.0, high=1.0)
    adopters: str = key("random", "which nodes adopt: drawn by the seed, or the top share by total "
                        "capacity or by channel count", choices=("random", "capacity", "degree"))
    max_circle_hops: int = key(6, "longest rebalancing circle, its fixed last hop included", low=2, high=27)
    max_circles: int = key(3, "circles tried per shortfall", low=1, high=10_000)
    amount: str = key("exact", "how much to move: the shortfall, 1.25 x it (Core Lightning's "
                      "jitrebalance plugin), or midway between need and capacity (CLBOSS)",
                      choices=("exact", "plugin", "midway"))
    budget: str = key("fee", "what a rebalance may cost: this forward's fee x budget_factor, CLBOSS's "
                      "earnings rule (10 sat + 25% of what the outgoing channel earned, less what "
                      "its rebalances cost), or no limit (the jitrebalance plugin)",
                      choices=("fee", "earnings", "none"))
    budget_factor: float = key(1.0, "fee budget: multiple of the forward's fee", low=0.0)
    timeout_s: float = key(60.0, "longest hold of an incoming HTLC while its rebalance runs (the "
                           "jitrebalance plugin's; CLBOSS waits 120)", low=0.0, low_open=True)
    max_depth: int = key(0, "deepest nesting: 0 = a rebalance HTLC never triggers JIT itself", low=0, high=10)
    one_per_channel: bool = key(True, "at most one rebalance in flight per outgoing channel")
    source: bool = key(False, "adopting senders act as their own JIT node: a payment whose route's "
                       "first channel lacks the amount is funded there by conditional circles "
                       "(local payment splitting; needs variant conditional or multi)")


@dataclass(frozen=True)
class MppConfig:
    enabled: bool = key(False, "senders pay in parts (BOLT #4 basic multipart), as Core Lightning's "
                        "pay does")
    part_msat: int = key(10_000_000, "pre-split into parts of about this size (Core Lightning's "
                         "presplit: MPP_TARGET_SIZE, 10,000 sat)", low=1)
    max_splits: int = key(16, "pre-split into at most this many parts, the part size growing by this "
                          "factor until it fits (Core Lightning: PRESPLIT_MAX_SPLITS)", low=2)
    max_parts: int = key(30, "most parts of one payment, halvings included (Core Lightning's "
                         "max-concurrent-htlcs per channel, 30)", low=1, high=483)
    min_part_msat: int = key(100_000, "a failed part is halved only above this (Core Lightning: "
                             "MPP_ADAPTIVE_LOWER_LIMIT, 100 sat)", low=1)
    timeout_s: float = key(60.0, "the receiver fails the parts it holds this long after the first "
                           "arrived without the rest (BOLT #4; Core Lightning 70 s, lnd 120 s)",
                           low=0.0, low_open=True)


SECTIONS = {"network": NetworkConfig, "liquidity": LiquidityConfig, "workload": WorkloadConfig,
            "sender": SenderConfig, "engine": EngineConfig, "jit": JitConfig, "mpp": MppConfig}


@dataclass(frozen=True)
class Config:
    name: str = key("default", "scenario name; the default output folder is out/<name>")
    seed: int = key(1, "scenario seed; every random draw derives from it", low=0)
    network: NetworkConfig = field(default_factory=NetworkConfig)
    liquidity: LiquidityConfig = field(default_factory=LiquidityConfig)
    workload: WorkloadConfig = field(default_factory=WorkloadConfig)
    sender: SenderConfig = field(default_factory=SenderConfig)
    engine: EngineConfig = field(default_factory=EngineConfig)
    jit: JitConfig = field(default_factory=JitConfig)
    mpp: MppConfig = field(default_factory=MppConfig)

    def to_dict(self) -> dict:
        return asdict(self)


TOP_KEYS = {f.name: f for f in fields(Config) if f.name not in SECTIONS}


def _check_value(f, value, dotted: str, source) -> Any:
    expected = f.type if isinstance(f.type, str) else f.type.__name__
    if expected == "bool":
        ok = isinstance(value, bool)
    elif expected == "int":
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif expected == "float":
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        if ok:
            value = float(value)
            ok = math.isfinite(value)
    else:
        ok = isinstance(value, str)
    if not ok:
        raise InputError(source, dotted, f"expected {expected}, got {value!r}")
    meta = f.metadata
    if meta.get("choices") is not None and value not in meta["choices"]:
        raise InputError(source, dotted, f"expected one of {', '.join(map(repr, meta['choices']))}, "
                                         f"got {value!r}")
    low, high = meta.get("low"), meta.get("high")
    why = ""
    if callable(high):  # a bound of this machine
        high, why = high()
        why = f" ({why})"
    if low is not None and (value < low or (meta.get("low_open") and value == low)):
        bound = ">" if meta.get("low_open") else ">="
        raise InputError(source, dotted, f"expected a value {bound} {low}, got {value!r}")
    if high is not None and value > high:
        raise InputError(source, dotted, f"expected a value <= {high:,}{why}, got {value!r}")
    return value


def _unknown(source, dotted: str, name: str, known) -> InputError:
    close = difflib.get_close_matches(name, list(known), n=1)
    hint = f"; did you mean '{close[0]}'?" if close else f"; known: {', '.join(sorted(known))}"
    return InputError(source, dotted, f"unknown key{hint}")


def _section(cls, values, section: str, source):
    if not isinstance(values, dict):
        raise InputError(source, section, f"expected a table [{section}], got {values!r}")
    known = {f.name: f for f in fields(cls)}
    checked = {}
    for name, value in values.items():
        dotted = f"{section}.{name}"
        if name not in known:
            raise _unknown(source, dotted, name, known)
        checked[name] = _check_value(known[name], value, dotted, source)
    return cls(**checked)


def _resolve_paths(data: dict, folder: Path) -> None:
    """Make the paths a scenario file gives relative to its folder, not to where fastsim runs."""
    for section, cls in SECTIONS.items():
        values = data.get(section)
        if not isinstance(values, dict):
            continue
        for f in fields(cls):
            value = values.get(f.name)
            if f.metadata["path"] and isinstance(value, str) and value != f.default:
                values[f.name] = str(folder / value)


def config_from_dict(data: dict, source: str | Path | None = None) -> Config:
    """Validate a nested dict (as read from TOML) into a :class:`Config`."""
    top = {}
    sections = {}
    for name, value in data.items():
        if name in SECTIONS:
            sections[name] = _section(SECTIONS[name], value, name, source)
        elif name in TOP_KEYS:
            top[name] = _check_value(TOP_KEYS[name], value, name, source)
        else:
            raise _unknown(source, name, name, list(SECTIONS) + list(TOP_KEYS))
    return Config(**top, **sections)


OVERRIDE_SOURCE = "--set"


def parse_assignments(items: list[str], source: str = OVERRIDE_SOURCE) -> dict[str, Any]:
    """``KEY=VALUE`` strings (dotted keys as in the TOML) as overrides. A value is read as a TOML
    value (``5``, ``0.5``, ``true``, ``"x"``), or else taken as a bare string (``engine.mode=atomic``);
    the config spec then checks its type."""
    out: dict[str, Any] = {}
    for item in items:
        name, sep, text = item.partition("=")
        name = name.strip()
        if not sep or not name:
            raise InputError(source, None, f"expected KEY=VALUE, got {item!r}")
        try:
            value = tomllib.loads(f"v = {text.strip()}")["v"]
        except tomllib.TOMLDecodeError:
            value = text.strip()
        out[name] = value
    return out


def _nest(overrides: dict, source) -> dict:
    nested: dict = {}
    for dotted, value in overrides.items():
        parts = dotted.split(".")
        if len(parts) > 2 or not all(parts):
            raise InputError(source, dotted, "expected 'key' or 'section.key'")
        if len(parts) == 1:
            nested[parts[0]] = value
        else:
            nested.setdefault(parts[0], {})[parts[1]] = value
    return nested


def _merge(base: dict, extra: dict) -> dict:
    out = dict(base)
    for name, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(name), dict):
            out[name] = {**out[name], **value}
        else:
            out[name] = value
    return out


def read_toml(path: Path) -> dict:
    """A TOML file as a dict; an unreadable or invalid file is an InputError naming it."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise InputError(path, None, f"cannot read the file ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise InputError(path, None, "not a text file; expected a scenario TOML") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(path, None, f"invalid TOML: {exc}") from None


def load_config(path: str | Path | None = None, *, overrides: dict | None = None,
                sources: dict[str, str] | None = None) -> Config:
    """Read a scenario TOML (None: all defaults) and apply dotted-key overrides.

    Relative paths in the file are taken from the file's folder; those in overrides, as given. An
    error in an override names where it came from: ``sources`` maps its key to an option name
    (``{"workload.n_payments": "--payments"}``); any other override is blamed on ``--set``."""
    data: dict = {}
    if path is not None:
        path = Path(path)
        data = read_toml(path)
        _resolve_paths(data, path.parent)
    config = config_from_dict(data, path)
    if not overrides:
        return config
    # the file is valid on its own, so what fails now comes from the overrides
    for dotted, option in (sources or {}).items():
        if dotted in overrides:
            try:
                config_from_dict(_nest({dotted: overrides[dotted]}, option), option)
            except InputError as exc:
                raise InputError(option, None, exc.problem) from None
    return config_from_dict(_merge(data, _nest(overrides, OVERRIDE_SOURCE)), OVERRIDE_SOURCE)


def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, int) and abs(value) >= 10_000:
        return f"{value:_}"
    return repr(value)


def _toml_comment(f) -> str:
    choices = f.metadata["choices"]
    listed = f" ({' | '.join(_toml_value(c) for c in choices)})" if choices else ""
    return f"# {f.metadata['help']}{listed}"


def documented_toml() -> str:
    """Every key with its default and help: the text of configs/default.toml."""
    lines = ["# fastsim scenario: every key with its default. A scenario file may leave out any key.",
             "# Money is integer msat; times are seconds unless a key says otherwise.",
             "# Relative paths are taken from the folder of the file that gives them.", ""]
    for name, f in TOP_KEYS.items():
        lines += [_toml_comment(f), f"{name} = {_toml_value(f.default)}", ""]
    for section, cls in SECTIONS.items():
        lines.append(f"[{section}]")
        for f in fields(cls):
            lines += [_toml_comment(f), f"{f.name} = {_toml_value(f.default)}"]
        lines.append("")
    return "\n".join(lines)


__all__ = ["Config", "config_from_dict", "documented_toml", "load_config", "parse_assignments",
           "read_toml"]
