"""Recycling the rows of HTLCs and routes once nothing can read them again, so that a run's memory
is bounded by what is in flight rather than by its length.

The unit is a hash group: a payment and every payment travelling on its hash (the parts of a
multipart payment, the conditional circles netted into it); a rebalance circle on a hash of its own
is a group by itself. No link between HTLC rows crosses groups, so once every payment of a group has
ended and none of its HTLCs is in flight, nothing reads its rows again. Its HTLC rows are checked
against DESIGN.md 2.8 (the same checks as the finished run's, see ``invariants.htlc_violations``)
and then dropped: the live rows move to the front of the tables, and every reference to them (the
association links, ``pay_first_in``, a JIT decision's held HTLC and netting chain, HTLC events in the
heap) is renumbered. The group's attempts and their routes go the same way (an HTLC's attempt and a
retry slot's failed attempt renumbered); what the outputs read of a payment's last attempt (its
serial number and hops) is kept aside, when the run has JIT decisions to report.

Failure records go too once no search can read them: older than ``FORGET_AFTER_HALF_LIVES``
half-lives (or of another payment, when senders do not remember failures) and of a hash no payment
searches on any more. The prefetch window's count of records and each node's newest record are
renumbered with them.

This runs in Python between chunks of the event loop, when a table is full: kernels never see it.
"""

from __future__ import annotations

import numpy as np

from fastsim import invariants
from fastsim.kernels import layout as lay
from fastsim.kernels.htlcs import IN_FLIGHT
from fastsim.kernels.knowledge import FORGET_AFTER_HALF_LIVES, records_kept

LINKS = ("first_in", "next_in", "nets")  # HTLC row numbers, or -1
HTLC_EVENTS = np.array([lay.EV_ARRIVE, lay.EV_SETTLE, lay.EV_FAIL, lay.EV_HTLC_TIMEOUT])


class RecyclingError(AssertionError):
    """A live row is still linked to one of an ended group: a bug in the engine, never in the input."""


def _renumber(refs: np.ndarray, new_id: np.ndarray, *, where: str, must_live: bool) -> None:
    """Replace row numbers (>= 0) in ``refs`` by their new ones; a dropped row becomes -1, which
    ``must_live`` refuses."""
    at = np.flatnonzero(refs >= 0)
    moved = new_id[refs[at]]
    if must_live and (moved < 0).any():
        raise RecyclingError(f"{where} still names an HTLC of an ended payment")
    refs[at] = moved


def last_rows(payment_of_row: np.ndarray, n_payments: int) -> np.ndarray:
    """Each payment's last row (-1: none) of a table whose rows are in the order they were added."""
    last = np.full(n_payments, -1, np.int64)
    np.maximum.at(last, payment_of_row.astype(np.int64), np.arange(payment_of_row.shape[0]))
    return last


def recycle(htlcs: dict, routes: dict, attempts: dict, pays: dict, jit: dict, heap: dict,
            retry: dict, counters: np.ndarray, recycled: np.ndarray, ended_attempts: dict | None,
            network, found: list[str]) -> int:
    """Check and drop the HTLC, attempt and route rows of every hash group that has ended since
    the last call; mark its payments in ``recycled``, keep their last attempts in
    ``ended_attempts`` (unless None) and add what the checks found to ``found``. Returns the count
    of HTLC rows dropped."""
    n_h, n_pay = int(counters[lay.C_HTLCS]), int(counters[lay.C_PAYMENTS])
    n_att, n_jit = int(counters[lay.C_ATTEMPTS]), int(counters[lay.C_JIT])
    status, hash_of = pays["status"][:n_pay], pays["hash_of"][:n_pay]
    payment, state = htlcs["payment"][:n_h], htlcs["state"][:n_h]
    root = hash_of[payment]
    open_group = np.zeros(n_pay, bool)
    open_group[hash_of[status == lay.PENDING]] = True
    open_group[root[state == IN_FLIGHT]] = True
    ended = ~open_group[root]
    dropped = np.flatnonzero(ended)
    members = ~open_group[hash_of] & ~recycled[:n_pay]
    if not members.any():
        return 0

    # the checks of the finished run, on the ended groups' rows (linked among themselves)
    sub_id = np.full(n_h, -1, np.int64)
    sub_id[dropped] = np.arange(dropped.shape[0])
    sub = {name: arr[:n_h][dropped] for name, arr in htlcs.items()}
    for name in (*LINKS, "funds"):
        _renumber(sub[name], sub_id, where=f"an ended payment's HTLC's {name}", must_live=True)
    st = {name: pays[name][:n_pay] for name in ("status", "kind", "parent", "amount_msat")}
    st["attempt_table"] = {name: arr[:n_att] for name, arr in attempts.items()}
    st["route_table"] = routes
    found += invariants.htlc_violations(sub, st, network, members)
    recycled[:n_pay] |= members

    # HTLC rows: the live ones to the front, every reference to them renumbered
    kept = ~ended
    new_id = np.where(kept, np.cumsum(kept) - 1, -1)
    n_kept = int(kept.sum())
    for arr in htlcs.values():
        arr[:n_kept] = arr[:n_h][kept]
    for name in (*LINKS, "funds"):
        _renumber(htlcs[name][:n_kept], new_id, where=f"a live HTLC's {name}", must_live=True)
    # an ended payment's list, an ended decision's held HTLC: no longer read, cleared
    _renumber(pays["pay_first_in"][:n_pay], new_id, where="pay_first_in", must_live=False)
    pending = jit["jit_outcome"][:n_jit] == lay.OUT_PENDING
    for name in ("jit_held", "jit_nets"):
        refs = jit[name][:n_jit]
        for which, must_live in ((pending, True), (~pending, False)):
            part = refs[which]
            _renumber(part, new_id, where=f"a JIT decision's {name}", must_live=must_live)
            refs[which] = part
    vals = heap["vals"][: int(counters[lay.C_HEAP])]
    of_htlc = np.flatnonzero(np.isin(vals & 7, HTLC_EVENTS))
    objs = vals[of_htlc] >> 3
    _renumber(objs, new_id, where="an event in the queue", must_live=True)
    vals[of_htlc] = objs * 8 + (vals[of_htlc] & 7)
    counters[lay.C_HTLCS] = n_kept

    # routes: those of the attempts of groups still open, to the front, in attempt order
    att_payment, start = attempts["payment"][:n_att], attempts["route_start"][:n_att]
    live_att = open_group[hash_of[att_payment]]
    keep_att = np.flatnonzero(live_att)
    length = attempts["n_hops"][keep_att].astype(np.int64)
    new_start = np.cumsum(length) - length
    source = np.repeat(start[keep_att] - new_start, length) + np.arange(int(length.sum()))
    for arr in routes.values():
        arr[: source.shape[0]] = arr[source]
    start[keep_att] = new_start
    counters[lay.C_ROUTE] = source.shape[0]

    # attempts: the same ones to the front
    if ended_attempts is not None:
        gone = np.flatnonzero(~live_att)
        last = last_rows(att_payment[gone], n_pay)
        ended = np.flatnonzero(last >= 0)
        for name in ("serial", "n_hops"):
            ended_attempts[name][ended] = attempts[name][gone[last[ended]]]
    new_att = np.where(live_att, np.cumsum(live_att) - 1, -1)
    for arr in attempts.values():
        arr[: keep_att.shape[0]] = arr[keep_att]
    _renumber(htlcs["attempt"][:n_kept], new_att, where="a live HTLC's attempt", must_live=True)
    # a retry slot is taken by a payment still pending: its failed attempt lives
    slot_of = retry["retry_slot"][:n_pay]
    taken = slot_of[slot_of >= 0]
    refs = retry["slot_attempt"][taken]
    _renumber(refs, new_att, where="a retry slot's attempt", must_live=True)
    retry["slot_attempt"][taken] = refs
    counters[lay.C_ATTEMPTS] = keep_att.shape[0]
    return n_h - n_kept



def forget_records(know: dict, pays: dict, counters: np.ndarray, window: np.ndarray, *,
                   clock_s: float, half_life_s: float, remember: bool) -> int:
    """Drop the failure records no search can read any more (see the module's docstring); returns
    how many went."""
    n_rec, n_pay = int(counters[lay.C_KNOW]), int(counters[lay.C_PAYMENTS])
    status, hash_of = pays["status"][:n_pay], pays["hash_of"][:n_pay]
    open_hash = np.zeros(n_pay, bool)
    open_hash[hash_of[status == lay.PENDING]] = True
    horizon = clock_s - FORGET_AFTER_HALF_LIVES * half_life_s if remember else np.inf
    kept = np.zeros(n_rec, np.uint8)
    records_kept(tuple(know[name] for name in lay.KNOW_FIELDS), horizon, open_hash, kept)
    keep = kept != 0
    n_kept = int(keep.sum())
    if n_kept == n_rec:
        return 0
    new_id = np.where(keep, np.cumsum(keep) - 1, -1)
    for name in ("know_direction", "know_amount_msat", "know_time_s", "know_payment", "know_next"):
        know[name][:n_kept] = know[name][:n_rec][keep]
    # a kept record's older neighbour is kept too, or was the list's last kept one
    _renumber(know["know_next"][:n_kept], new_id, where="know_next", must_live=False)
    _renumber(know["know_head"], new_id, where="know_head", must_live=False)
    # an old newest record is older than any window's computation: -1 reads as nothing new
    _renumber(know["know_newest"], new_id, where="know_newest", must_live=False)
    if window[2] > 0:
        window[2] = int(np.count_nonzero(keep[: int(window[2])]))
    counters[lay.C_KNOW] = n_kept
    return n_rec - n_kept
