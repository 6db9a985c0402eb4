"""Slow, obvious twins of the Numba kernels, for comparison on random inputs."""

from __future__ import annotations

import numpy as np


def bolt7_fee(base: int, ppm: int, amount: int) -> int:
    return int(base) + int(amount) * int(ppm) // 1_000_000


def cheapest_route_fee(source, target, amount, net, own_spendable, fail_amt, *, fee_budget,
                       max_hops, max_cltv, final_cltv):
    """Enumerate every simple path source -> target; the least total fee of a feasible one (or None).

    Feasibility mirrors what a sender can know: gossip for remote hops, its own spendable balance
    for its first hop, exclusions from failures.
    """
    dir_src, dir_dst, cap = net.dir_src, net.dir_dst, net.direction_capacity_msat()
    fee_base, fee_rate, cltv_delta = net.fee_base_msat, net.fee_rate_ppm, net.cltv_delta
    hmin, hmax, enabled = net.htlc_min_msat, net.htlc_max_msat, net.enabled
    n = net.n_nodes
    out = [[] for _ in range(n)]
    for e in range(dir_src.shape[0]):
        out[dir_src[e]].append(e)
    best = None

    def price(path):
        amt = amount
        cltv = final_cltv
        for i in range(len(path) - 1, -1, -1):
            e = path[i]
            if amt < hmin[e] or amt > hmax[e]:
                return None
            if i == 0:
                if own_spendable[e] < amt or not enabled[e] or amt >= fail_amt[e]:
                    return None
            else:
                if not enabled[e] or amt > cap[e] or amt >= fail_amt[e]:
                    return None
                amt += bolt7_fee(fee_base[e], fee_rate[e], amt)
                cltv += int(cltv_delta[e])
            if amt - amount > fee_budget or cltv > max_cltv:
                return None
        return amt - amount

    def walk(node, path, seen):
        nonlocal best
        if node == target:
            fee = price(path)
            if fee is not None and (best is None or fee < best):
                best = fee
            return
        if len(path) >= max_hops:
            return
        for e in out[node]:
            nxt = dir_dst[e]
            if nxt not in seen:
                seen.add(nxt)
                path.append(e)
                walk(nxt, path, seen)
                path.pop()
                seen.remove(nxt)

    walk(source, [], {source})
    return best


class AssociationTable:
    """Dictionary-based association: what each incoming HTLC funds, and the reverse lists."""

    def __init__(self):
        self.funds: dict[int, object] = {}

    def associate(self, h_in, target):
        self.funds[h_in] = target

    def dissociate(self, h_in):
        self.funds.pop(h_in, None)

    def incoming(self, target):
        return sorted(h for h, t in self.funds.items() if t == target)

    def reassociate(self, h_out, target):
        moved = self.incoming(("htlc", h_out))
        for h in moved:
            self.funds[h] = target
        return len(moved)

    def net_and_reassociate(self, outgoing, target):
        moved = 0
        for h_out in outgoing:
            moved += self.reassociate(h_out, target)
            self.dissociate(h_out)
        return moved


def naive_funds_array(table: AssociationTable, n_htlcs: int) -> np.ndarray:
    out = np.full(n_htlcs, -1, np.int64)
    for h, (kind, ref) in table.funds.items():
        out[h] = ref if kind == "htlc" else -2 - ref
    return out
