"""Slow, obvious twins of the Numba kernels, for comparison on random inputs."""

from __future__ import annotations

import math

import numpy as np

from fastsim.kernels.routing import NO_FAILURE


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


def hop_probability(model, amount, capacity, fail_amt, fail_age, apriori, half_life):
    if model == "lnd":
        return apriori * (1 - 0.5 ** (fail_age / half_life)) if amount >= fail_amt else apriori
    upper = capacity if fail_amt == NO_FAILURE else min(capacity, fail_amt - 1)
    return 0.0 if amount > upper else (upper + 1 - amount) / (upper + 1)


def dijkstra_route_cost(source, target, amount, net, own_spendable, fail_amt, fail_age, *, model,
                        mu=1.0, apriori=0.6, half_life=3600.0, attempt_cost=0.0, fee_budget,
                        max_hops, max_cltv, final_cltv):
    """The plain backwards label-setting Dijkstra the routing kernel speeds up: one label per node
    (cost, amount, probability, hops, CLTV), the unsettled node of least cost settled next, by a
    linear scan. Returns the sender's cost and, for each node of its route, the cost of the route
    from the sender to that node (None when the sender is never reached)."""
    dir_src, cap = net.dir_src, net.direction_capacity_msat()
    incoming = [[] for _ in range(net.n_nodes)]
    for e in range(dir_src.shape[0]):
        if net.enabled[e]:
            incoming[net.dir_dst[e]].append(e)
    label = {target: (0.0, amount, 1.0, 0, final_cltv)}
    next_node = {}
    settled = set()
    while True:
        open_nodes = [v for v in label if v not in settled]
        if not open_nodes:
            return None
        u = min(open_nodes, key=lambda v: (label[v][0], v))
        settled.add(u)
        cost, amt, prob, hops, cltv = label[u]
        if u == source:
            prefix, node = {}, source
            while True:
                prefix[node] = cost - label[node][0]
                if node == target:
                    return cost, prefix
                node = next_node[node]
        if hops >= max_hops:
            continue
        for e in incoming[u]:
            v = int(dir_src[e])
            if v in settled or amt < net.htlc_min_msat[e] or amt > net.htlc_max_msat[e]:
                continue
            if v == source:
                if own_spendable[e] < amt or amt >= fail_amt[e]:
                    continue
                fee, p, new_cltv = 0, 1.0, cltv
            else:
                if amt > cap[e] or (model != "lnd" and amt >= fail_amt[e]):
                    continue
                p = hop_probability(model, amt, cap[e], fail_amt[e], fail_age[e], apriori, half_life)
                if model == "lnd" and p < 0.01:
                    continue
                fee = bolt7_fee(net.fee_base_msat[e], net.fee_rate_ppm[e], amt)
                new_cltv = cltv + int(net.cltv_delta[e])
            if amt + fee - amount > fee_budget or new_cltv > max_cltv:
                continue
            if model == "fee":
                new_cost = cost + fee
            elif model == "probability":
                new_cost = cost + fee + mu * (amt / 1000.0) * -math.log(p)
            else:
                new_cost = (amt + fee - amount) + attempt_cost / (prob * p)
            if v not in label or new_cost < label[v][0]:
                label[v] = (new_cost, amt + fee, prob * p, hops + 1, new_cltv)
                next_node[v] = u


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


def known_failures(records, node, payment, now, *, deadline, half_life, remember, lnd,
                   forget_after, capacity):
    """What a node's search reads of its failure records ``(node, payment, direction, amount,
    time)``, in any order: its payment's own always, at their amounts; others' while younger than
    ``forget_after`` half-lives, their bound relaxed toward the capacity by the half-life (fee and
    probability models) or at their amounts (lnd's). Per direction the lowest bound, the lowest
    bound the forward search sees (others' relaxed as they will be at the payment's ``deadline``,
    and left out if forgotten by then) and the youngest age."""
    fail_amt = np.full(len(capacity), NO_FAILURE, np.int64)
    fwd_fail_amt = fail_amt.copy()
    fail_age = np.full(len(capacity), np.inf)
    def faded(e, amount, age):
        if lnd or amount >= capacity[e]:
            return amount
        return capacity[e] - int((capacity[e] - amount) * 0.5 ** (age / half_life))

    for s, q, e, amount, time in records:
        if s != node:
            continue
        age = max(now - time, 0.0)
        if q == payment:
            fail_amt[e] = min(fail_amt[e], amount)
            fwd_fail_amt[e] = min(fwd_fail_amt[e], amount)
        elif remember and age <= forget_after * half_life:
            fail_amt[e] = min(fail_amt[e], faded(e, amount, age))
            age_then = max(deadline - time, 0.0)
            if lnd:  # never reused: the forward bounds may price what counts now
                fwd_fail_amt[e] = min(fwd_fail_amt[e], amount)
            elif age_then <= forget_after * half_life:
                fwd_fail_amt[e] = min(fwd_fail_amt[e], faded(e, amount, age_then))
        else:
            continue
        fail_age[e] = min(fail_age[e], age)
    return fail_amt, fwd_fail_amt, fail_age


def network_imbalance(balance, capacity, dir_src, n_nodes):
    """The twin of fastsim.imbalance.network_imbalance: each node's Gini as the mean absolute
    difference over all pairs of its shares, divided by twice their mean."""
    ginis = []
    for v in range(n_nodes):
        xs = [balance[e] / capacity[e] for e in range(len(dir_src)) if dir_src[e] == v]
        if len(xs) < 2 or sum(xs) == 0:
            continue
        mean = sum(xs) / len(xs)
        ginis.append(sum(abs(a - b) for a in xs for b in xs) / (2 * len(xs) ** 2 * mean))
    return sum(ginis) / len(ginis) if ginis else float("nan")


def records_kept(records, horizon, open_payments):
    """Which records (node, payment, direction, amount, time), learned in this order, a node may
    still read: its list runs newest first (of equal times, the one learned last first); every
    record down to the last one from ``horizon`` on or of an open payment."""
    keep = [False] * len(records)
    for node in {r[0] for r in records}:
        listed = sorted((i for i, r in enumerate(records) if r[0] == node),
                        key=lambda i: (records[i][4], i), reverse=True)
        must = [k for k, i in enumerate(listed)
                if records[i][4] >= horizon or records[i][1] in open_payments]
        for i in listed[: must[-1] + 1] if must else []:
            keep[i] = True
    return keep
