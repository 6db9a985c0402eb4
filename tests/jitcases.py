"""The JIT oracles' shared scenario builder (``test_jit``: variant ``rebalance``;
``test_jit_conditional``: variants ``conditional`` and ``multi``): a tiny graph written channel by
channel, the HTLCs a route carries with BOLT #7 fees, and one way to simulate a scenario on it.

Every channel has capacity ``CAP`` and a 1% reserve per side; every hop takes ``L`` (no jitter).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import polars as pl

from fastsim.config import load_config
from fastsim.engine import simulate
from fastsim.invariants import violations
from fastsim.network import Network

CAP = 10**9  # every channel's capacity (msat)
RESERVE = CAP // 100  # engine.reserve_ppm = 10_000 per side
L = 0.1  # engine.latency_ms = 100, engine.latency_jitter_ms = 0
X = 100_000_000  # the usual payment: 100k sat


# --- the graph builder --------------------------------------------------------------------------

@dataclass(frozen=True)
class Ch:
    """Channel a-b: ``a`` holds ``bal_a`` of the capacity; ``ab`` is (base msat, ppm) that a
    charges forwarding over a -> b, ``ba`` what b charges over b -> a."""
    a: str
    b: str
    bal_a: int
    ab: tuple[int, int] = (1000, 100)
    ba: tuple[int, int] = (1000, 100)
    min_ab: int = 1  # htlc_min_msat of a -> b
    min_ba: int = 1  # htlc_min_msat of b -> a


@dataclass(frozen=True)
class Graph:
    nodes: str  # one letter per node, in index order
    channels: tuple[Ch, ...]

    def node(self, name: str) -> int:
        return self.nodes.index(name)

    def d(self, a: str, b: str) -> int:
        """Direction a -> b: ``2 * channel`` sends node0 -> node1, ``2 * channel + 1`` back."""
        for c, ch in enumerate(self.channels):
            if (ch.a, ch.b) == (a, b):
                return 2 * c
            if (ch.b, ch.a) == (a, b):
                return 2 * c + 1
        raise KeyError((a, b))

    def sender(self, e: int) -> str:
        ch = self.channels[e // 2]
        return ch.b if e % 2 else ch.a

    def policy(self, a: str, b: str) -> tuple[int, int]:
        ch = self.channels[self.d(a, b) // 2]
        return ch.ab if ch.a == a else ch.ba

    def fee(self, a: str, b: str, amount: int) -> int:
        """BOLT #7: what a charges to forward ``amount`` over a -> b."""
        base, ppm = self.policy(a, b)
        return base + amount * ppm // 1_000_000

    def balance(self, a: str, b: str) -> int:
        """a's starting balance on a -> b."""
        return int(self.balances()[self.d(a, b)])

    def network(self) -> Network:
        m = len(self.channels)
        pol = [p for ch in self.channels for p in (ch.ab, ch.ba)]
        return Network(pubkey=[f"node-{n}" for n in self.nodes],
                       scid=[f"{ch.a}-{ch.b}" for ch in self.channels],
                       node0=[self.node(ch.a) for ch in self.channels],
                       node1=[self.node(ch.b) for ch in self.channels], capacity_msat=[CAP] * m,
                       fee_base_msat=[p[0] for p in pol], fee_rate_ppm=[p[1] for p in pol],
                       cltv_delta=[40] * 2 * m,
                       htlc_min_msat=[v for ch in self.channels for v in (ch.min_ab, ch.min_ba)],
                       htlc_max_msat=[CAP] * 2 * m, enabled=[True] * 2 * m)

    def balances(self) -> np.ndarray:
        out = np.empty(2 * len(self.channels), np.int64)
        out[0::2] = [ch.bal_a for ch in self.channels]
        out[1::2] = [CAP - ch.bal_a for ch in self.channels]
        return out

    def after(self, settled) -> list[int]:
        """The balances once the ``settled`` HTLCs (kind, a, b, amount) have moved a -> b."""
        out = self.balances()
        for _, a, b, amount in settled:
            out[self.d(a, b)] -= amount
            out[self.d(b, a)] += amount
        return out.tolist()

    def with_channel(self, a: str, b: str, **changes) -> Graph:
        assert any((ch.a, ch.b) == (a, b) for ch in self.channels), (a, b)
        chans = tuple(replace(ch, **changes) if (ch.a, ch.b) == (a, b) else ch
                      for ch in self.channels)
        return replace(self, channels=chans)


def route(g: Graph, path: str, amount: int, kind: str = "payment") -> list[tuple]:
    """The HTLCs of a route over ``path`` delivering ``amount``: the last hop carries the amount,
    each earlier hop the next one's amount plus what the next hop's sender charges for it."""
    n = len(path) - 1
    amts = [0] * n
    amts[-1] = amount
    for k in range(n - 1, 0, -1):
        amts[k - 1] = amts[k] + g.fee(path[k], path[k + 1], amts[k])
    return [(kind, path[k], path[k + 1], amts[k]) for k in range(n)]


def circle(g: Graph, path: str, amount: int) -> list[tuple]:
    """A JIT circle: a route from N to itself of kind ``rebalance``."""
    assert path[0] == path[-1]
    return route(g, path, amount, "rebalance")


def cost(hops: list[tuple]) -> int:
    """What the route's sender pays: its first HTLC beyond what the last one delivers."""
    return hops[0][3] - hops[-1][3]


# The diamond of the issue. N charges 1000 + 150 ppm on N -> M; N -> M holds 70% of X above
# its reserve; A -> M holds 50M above its reserve: enough for a circle of 30M, not for X.
DIAMOND = Graph("SNMA", (
    Ch("S", "N", CAP // 2),
    Ch("N", "M", RESERVE + 70_000_000, ab=(1000, 150), ba=(500, 20)),
    Ch("N", "A", CAP // 2, ab=(1000, 300)),
    Ch("A", "M", RESERVE + 50_000_000, ab=(700, 130)),
))




def paid(ok, *, attempts, fee=0, t_done, t_start=0.0, reason=None, jit=0, rescued=False,
         hops=0) -> dict:
    return dict(succeeded=ok, failure_reason=None if ok else reason, attempts=attempts,
                hops=hops, fee_msat=fee, t_start_s=t_start, t_done_s=t_done, jit_events=jit,
                jit_rescued=rescued)



def simulate_scenario(g: Graph, rows: list[tuple], config: dict, mode: str, *, adopters: str = "N",
                      unresponsive: str = "", **kwargs):
    """Run the workload ``rows`` (t_arrival_s, src, dst, amount_msat) on ``g`` in ``mode`` with the
    config overrides, debug invariants on; asserts DESIGN 2.8's invariants hold."""
    net = g.network()
    wl = pl.DataFrame({"id": list(range(len(rows))), "t_arrival_s": [r[0] for r in rows],
                       "src": [g.node(r[1]) for r in rows], "dst": [g.node(r[2]) for r in rows],
                       "amount_msat": [r[3] for r in rows]},
                      schema={"id": pl.Int64, "t_arrival_s": pl.Float64, "src": pl.Int32,
                              "dst": pl.Int32, "amount_msat": pl.Int64})
    config = load_config(None, overrides={"engine.latency_jitter_ms": 0.0, "engine.mode": mode,
                                          **config})
    res = simulate(net, wl, config, balances=g.balances(), debug_invariants=True,
                   adopters=np.array([n in adopters for n in g.nodes]),
                   unresponsive=np.array([n in unresponsive for n in g.nodes]), **kwargs)
    assert violations(res, net) == []
    return res


def per_node(g: Graph, values: dict[str, int]) -> list[int]:
    return [values.get(n, 0) for n in g.nodes]


def assert_same_results(ahead, live) -> None:
    """A run with routes computed ahead and the same run searching every route live
    (prefetch_routes=False) give identical tables."""
    assert live.timings["prefetched_routes_used"] == 0
    for table in ("payments", "htlcs", "jit_events", "nodes", "channels"):
        assert getattr(ahead, table).equals(getattr(live, table)), table
