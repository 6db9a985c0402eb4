"""The invariants of DESIGN.md 2.8, checked on a finished run (vectorized over the final state)."""

from __future__ import annotations

import numpy as np

from fastsim.kernels import layout as lay
from fastsim.kernels.htlcs import FAILED, IN_FLIGHT, SETTLED


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
    # every HTLC of an attempt shares the attempt's fate; a succeeded payment has exactly one settled attempt
    att = h["attempt"]
    settled_att = np.zeros(st["attempt_table"]["payment"].shape[0], np.int64)
    failed_att = np.zeros_like(settled_att)
    np.add.at(settled_att, att[h["state"] == SETTLED], 1)
    np.add.at(failed_att, att[h["state"] == FAILED], 1)
    mixed = np.flatnonzero((settled_att > 0) & (failed_att > 0))
    if mixed.size:
        out.append(f"{mixed.size} attempts have both settled and failed HTLCs (first: {mixed[0]})")
    att_payment = st["attempt_table"]["payment"]
    settled_per_payment = np.bincount(att_payment[settled_att > 0], minlength=st["status"].shape[0])
    ok = st["status"] == lay.SUCCEEDED
    if (settled_per_payment[ok] != 1).any() or settled_per_payment[~ok].any():
        out.append("a payment's outcome disagrees with the fate of its HTLCs")
    # BOLT #7 fees at every hop of every settled attempt
    settled = h["state"] == SETTLED
    nxt = h["funds"]
    hop_pairs = settled & (nxt >= 0)
    if hop_pairs.any():
        h_in = np.flatnonzero(hop_pairs)
        h_out = nxt[h_in]
        e = h["direction"][h_out]
        graph_fee_base, graph_fee_rate = network.fee_base_msat[e], network.fee_rate_ppm[e]
        fee = graph_fee_base + (h["amount_msat"][h_out] * graph_fee_rate) // 1_000_000
        wrong_fee = np.flatnonzero(h["amount_msat"][h_in] - h["amount_msat"][h_out] != fee)
        if wrong_fee.size:
            out.append(f"{wrong_fee.size} forwards charged a fee other than BOLT #7's")
    return out


def check(result, network) -> None:
    """Raise :class:`InvariantViolation` listing every broken invariant."""
    found = violations(result, network)
    if found:
        raise InvariantViolation("; ".join(found))
