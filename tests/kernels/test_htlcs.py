"""HTLC table and association operations, directly and against a dictionary twin."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from fastsim.kernels._jit import from_python
from fastsim.kernels.htlcs import (
    IN_FLIGHT,
    NETTED,
    UNASSOCIATED,
    associate,
    dissociate,
    empty_htlc_table,
    htlc_append,
    net_and_reassociate,
    payment_ref,
    reassociate,
)
from tests.naive import AssociationTable, naive_funds_array

# the kernels Python calls here, with the CPython wrapper the package's copies go without
associate = from_python(associate)
dissociate = from_python(dissociate)
htlc_append = from_python(htlc_append)
net_and_reassociate = from_python(net_and_reassociate)
payment_ref = from_python(payment_ref)
reassociate = from_python(reassociate)


def table_with(n):
    t = empty_htlc_table(n)
    cols = tuple(t.values())
    for h in range(n):
        htlc_append(cols, h, 7, 0, 0, 0, 0, 2 * h, 1000 + h, 100, 0.5)
    return t


def incoming(t, target):
    """Walk the linked list of what funds ``target`` (an HTLC id or a payment ref)."""
    out = []
    h = t["first_in"][target] if target >= 0 else t["pay_first_in"][-2 - target]
    while h != UNASSOCIATED:
        out.append(int(h))
        h = t["next_in"][h]
    return sorted(out)


def ops(t):
    return t["funds"], t["first_in"], t["next_in"], t["pay_first_in"]


def test_append_writes_a_row():
    t = table_with(3)
    assert t["amount_msat"].tolist() == [1000, 1001, 1002]
    assert t["direction"].tolist() == [0, 2, 4]
    assert (t["state"] == IN_FLIGHT).all() and np.isnan(t["t_resolved_s"]).all()


def test_many_incoming_to_one_outgoing_and_to_a_payment():
    t = table_with(6)
    t["pay_first_in"] = np.full(2, UNASSOCIATED, np.int32)
    for h in (0, 1, 2):
        associate(*ops(t), h, 5)
    associate(*ops(t), 3, payment_ref(1))
    associate(*ops(t), 4, payment_ref(1))
    assert incoming(t, 5) == [0, 1, 2]
    assert incoming(t, payment_ref(1)) == [3, 4]
    dissociate(*ops(t), 1)
    assert incoming(t, 5) == [0, 2] and t["funds"][1] == UNASSOCIATED


def test_delete_several_outgoing_and_reassociate_to_a_new_one_or_the_payment():
    t = table_with(8)
    t["pay_first_in"] = np.full(1, UNASSOCIATED, np.int32)
    associate(*ops(t), 0, 4)
    associate(*ops(t), 1, 4)
    associate(*ops(t), 2, 5)
    associate(*ops(t), 4, 6)  # the outgoing HTLCs themselves fund something downstream
    moved = net_and_reassociate(t["state"], t["t_resolved_s"], *ops(t), np.array([4, 5]), 2, 7, 9.0)
    assert moved == 3
    assert incoming(t, 7) == [0, 1, 2]
    assert t["state"][4] == NETTED and t["state"][5] == NETTED and t["t_resolved_s"][4] == 9.0
    assert incoming(t, 6) == []  # the deleted HTLC no longer funds anything
    assert reassociate(*ops(t), 7, payment_ref(0)) == 3
    assert incoming(t, payment_ref(0)) == [0, 1, 2] and incoming(t, 7) == []


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["assoc", "dissoc", "reassoc", "net"]),
                          st.integers(0, 11), st.integers(0, 11), st.booleans()), max_size=40))
def test_random_operations_match_the_dictionary_twin(program):
    n, n_pay = 12, 3
    t = table_with(n)
    t["pay_first_in"] = np.full(n_pay, UNASSOCIATED, np.int32)
    twin = AssociationTable()
    for op, a, b, to_payment in program:
        target = ("payment", b % n_pay) if to_payment else ("htlc", b)
        ref = payment_ref(target[1]) if to_payment else b
        if op == "assoc":
            if a == b or t["funds"][a] != UNASSOCIATED:
                continue
            associate(*ops(t), a, ref)
            twin.associate(a, target)
        elif op == "dissoc":
            dissociate(*ops(t), a)
            twin.dissociate(a)
        elif op == "reassoc":
            if not to_payment and (a == b or twin.funds.get(b) == ("htlc", a)):
                continue
            assert reassociate(*ops(t), a, ref) == twin.reassociate(a, target)
        else:
            outs = sorted({a, (a + 1) % n})
            if not to_payment and b in outs:
                continue
            moved = net_and_reassociate(t["state"], t["t_resolved_s"], *ops(t),
                                        np.array(outs), len(outs), ref, 1.0)
            assert moved == twin.net_and_reassociate(outs, target)
        assert t["funds"].tolist() == naive_funds_array(twin, n).tolist()
        for h in range(n):
            assert incoming(t, h) == twin.incoming(("htlc", h))
        for p in range(n_pay):
            assert incoming(t, payment_ref(p)) == twin.incoming(("payment", p))
