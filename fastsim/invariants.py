"""The invariants of DESIGN.md 2.8, checked on a finished run (vectorized over the final state)."""

from __future__ import annotations

import numpy as np

from fastsim.kernels import layout as lay
from fastsim.kernels.htlcs import FAILED, IN_FLIGHT, NETTED, SETTLED


class InvariantViolation(AssertionError):
    """A DESIGN.md 2.8 invariant does not hold: a bug in the simulator, never in the input."""


def violations(result, network) -> list[str]:
    """Every broken invariant as a sentence; empty when the run is consistent."""
    st = result.state
    out: list[str] = []
    bal, infl = st["balance_msat"], st["inflight_msat"]
    cap = st["capacity_msat"]
    total = bal[0::2] + bal[1::2] + infl[0::2] + infl[1::2]
    bad = np.flatnonzero(total != cap[0::2])
    if bad.size:
        out.append(f"{bad.size} channels do not add up to their capacity (first: channel {bad[0]})")
    if (bal < 0).any() or (infl < 0).any():
        out.append(f"{int((bal < 0).sum() + (infl < 0).sum())} negative balances or in-flight amounts")
    if st["inflight_count"].any() or infl.any():
        out.append("HTLCs are still locked in channels after the run")

    # money: each node's change of funds equals received - sent + fees earned - fees paid, its
    # rebalancing fees included
    expected = (st["received_msat"] - st["sent_msat"] + st["fees_earned_msat"] - st["fees_paid_msat"]
                - st["rebalance_fees_msat"])
    delta = network.node_funds(bal) - network.node_funds(st["start_balance_msat"])
    wrong = np.flatnonzero(delta != expected)
    if wrong.size:
        out.append(f"money not conserved at {wrong.size} nodes (first: node {wrong[0]}, "
                   f"changed by {delta[wrong[0]]}, accounted {expected[wrong[0]]})")
    if st["fees_paid_msat"].sum() + st["rebalance_fees_msat"].sum() != st["fees_earned_msat"].sum():
        out.append("fees paid by senders and for rebalancing differ from fees earned by forwarding nodes")

    h = st["htlcs"]
    unresolved = int((h["state"] == IN_FLIGHT).sum())
    if unresolved:
        out.append(f"{unresolved} HTLCs never resolved")
    pending = int((st["status"] == lay.PENDING).sum())
    if pending:
        out.append(f"{pending} payments never resolved")
    # rows recycled during the run were checked before they were (see fastsim.recycling)
    out += st.get("recycled_violations", [])
    recycled = st.get("recycled")
    unchecked = np.ones(st["status"].shape[0], bool) if recycled is None else ~recycled
    out += htlc_violations(h, st, network, unchecked)
    out += _ledger_violations(st)
    return out


def htlc_violations(h, st, network, payments) -> list[str]:
    """The checks on HTLC rows: ``h`` holds every HTLC of the hash groups of the ``payments`` mask
    (links between rows as row numbers of ``h``); ``st`` gives the payment, attempt and route
    tables."""
    out = []
    # every HTLC of an attempt shares the attempt's fate; a succeeded payment has exactly one settled attempt
    attempt_ids, att = np.unique(h["attempt"], return_inverse=True)
    settled_att = np.bincount(att[h["state"] == SETTLED], minlength=attempt_ids.shape[0])
    failed_att = np.bincount(att[h["state"] == FAILED], minlength=attempt_ids.shape[0])
    mixed = np.flatnonzero((settled_att > 0) & (failed_att > 0))
    if mixed.size:
        out.append(f"{mixed.size} attempts have both settled and failed HTLCs "
                   f"(first: {attempt_ids[mixed[0]]})")
    settled = attempt_ids[settled_att > 0]
    att_payment = st["attempt_table"]["payment"]
    settled_per_payment = np.bincount(att_payment[settled], minlength=st["status"].shape[0])
    ok = st["status"] == lay.SUCCEEDED
    routed = (st["kind"] != lay.PAY_MPP) & payments  # a multipart payment routes nothing: its parts do
    if (settled_per_payment[ok & routed] != 1).any() or settled_per_payment[~ok & routed].any():
        out.append("a payment's outcome disagrees with the fate of its HTLCs")
    out += _multipart_violations(st, settled, payments)
    out += _fee_violations(h, network, st["attempt_table"], st["route_table"])
    out += _netting_violations(h)
    return out


def _ledger_violations(st) -> list[str]:
    """What nodes booked agrees with the payments: each node sent and received the amounts of the
    workload payments it settled; no JIT decision is left pending nor a rebalance in flight."""
    out = []
    k = st["n_workload"]
    settled = np.flatnonzero(st["status"][:k] == lay.SUCCEEDED)
    n = st["sent_msat"].shape[0]
    amount = st["amount_msat"][settled]
    sent, received = np.zeros(n, np.int64), np.zeros(n, np.int64)
    np.add.at(sent, st["src"][settled], amount)
    np.add.at(received, st["dst"][settled], amount)
    if (sent != st["sent_msat"]).any() or (received != st["received_msat"]).any():
        out.append("nodes' sent or received amounts differ from their settled payments'")
    pending = int((st["jit_table"]["jit_outcome"] == lay.OUT_PENDING).sum())
    if pending or st["dir_rebalancing"].any():
        out.append(f"{pending} JIT decisions never ended or rebalances still counted in flight")
    return out


def _multipart_violations(st, settled, payments) -> list[str]:
    """A multipart payment settles exactly when parts adding up to its amount settle, and a failed
    one has no settled part (``settled``: the settled attempts of the ``payments``' groups)."""
    multi = (st["kind"] == lay.PAY_MPP) & payments
    if not multi.any():
        return []
    att, routes = st["attempt_table"], st["route_table"]["route_amount_msat"]
    parent = st["parent"][att["payment"][settled]]
    part = parent >= 0
    last_hop = (att["route_start"][settled[part]]
                + att["n_hops"][settled[part]].astype(np.int64) - 1)
    delivered = np.zeros(multi.shape[0], np.int64)
    np.add.at(delivered, parent[part], routes[last_hop])
    ok = st["status"] == lay.SUCCEEDED
    wrong = (multi & ok & (delivered != st["amount_msat"])) | (multi & ~ok & (delivered != 0))
    if wrong.any():
        return [f"{int(wrong.sum())} multipart payments settled other than all their parts together"]
    return []


def _netted_chains(h) -> dict[int, list[int]]:
    """Each HTLC that replaced netted offers, with those offers (chained by their next_in)."""
    chains = {}
    for carrier in np.flatnonzero(h["nets"] >= 0):
        chain, g = [], int(h["nets"][carrier])
        while g >= 0:
            chain.append(g)
            g = int(h["next_in"][g])
        chains[int(carrier)] = chain
    return chains


def _fee(network, direction, amount):
    return network.fee_base_msat[direction] + (amount * network.fee_rate_ppm[direction]) // 1_000_000


def _overpayment(network, attempts, routes, ids) -> np.ndarray:
    """Per attempt of ``ids``, the extra fee its sender gave every forwarding node
    (``sender.overpay_ppm``): what the first forwarding node got beyond its BOLT #7 fee."""
    start, n = attempts["route_start"][ids], attempts["n_hops"][ids].astype(np.int64)
    extra = np.zeros(start.shape[0], np.int64)
    multi = np.flatnonzero(n >= 2)
    amount, direction = routes["route_amount_msat"], routes["route_direction"]
    first, second = start[multi], start[multi] + 1
    extra[multi] = amount[first] - amount[second] - _fee(network, direction[second], amount[second])
    return extra


def _fee_violations(h, network, attempts, routes) -> list[str]:
    """BOLT #7 at every settled forward: what its funders carried beyond the outgoing HTLC is the
    fee on the amount it forwards, plus the fees of any netted offers its funders replaced (a netted
    offer's node earns its fee through the netting), plus the sender's overpayment. An HTLC that
    replaced netted offers forwards its own amount plus theirs."""
    n = h["amount_msat"].shape[0]
    nominal = h["amount_msat"].copy()
    carried_fee = np.zeros(n, np.int64)
    for carrier, chain in _netted_chains(h).items():
        chain = np.array(chain)
        nominal[carrier] += h["amount_msat"][chain].sum()
        carried_fee[carrier] = _fee(network, h["direction"][chain], h["amount_msat"][chain]).sum()
    settled = h["state"] == SETTLED
    funds = h["funds"]
    h_in = np.flatnonzero(settled & (funds >= 0))
    if h_in.size == 0:
        return []
    h_out = funds[h_in]
    funded = np.bincount(h_out, weights=None, minlength=n).astype(bool)
    got = np.zeros(n, np.int64)
    np.add.at(got, h_out, h["amount_msat"][h_in])
    extra = np.zeros(n, np.int64)
    np.add.at(extra, h_out, carried_fee[h_in])
    outs = np.flatnonzero(funded)
    want = (_fee(network, h["direction"][outs], nominal[outs]) + extra[outs]
            + _overpayment(network, attempts, routes, h["attempt"][outs]))
    wrong = np.flatnonzero(got[outs] - nominal[outs] != want)
    return [f"{wrong.size} forwards charged a fee other than BOLT #7's"] if wrong.size else []


def _netting_violations(h) -> list[str]:
    """A circle netted into a payment's HTLC shares its fate: when the payment settles, every HTLC
    of the circle settles; when it fails, all fail."""
    state, attempt = h["state"], h["attempt"]
    chains = _netted_chains(h)
    carried = [g for chain in chains.values() for g in chain]
    if sorted(carried) != np.flatnonzero(state == NETTED).tolist():
        return ["netted HTLCs not in exactly one netting"]
    broken = 0
    for carrier, chain in chains.items():
        circles = np.unique(attempt[chain])
        mine = np.isin(attempt, circles) & (state != NETTED)
        broken += int((state[mine] != state[carrier]).any() or (state[chain] != NETTED).any())
    return [f"{broken} netted circles do not share their payment's fate"] if broken else []


def check(result, network) -> None:
    """Raise :class:`InvariantViolation` listing every broken invariant."""
    found = violations(result, network)
    if found:
        raise InvariantViolation("; ".join(found))
