"""What a node knows: its failure records, as its searches read them, against the naive twin."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from fastsim.kernels._jit import from_python
from fastsim.kernels.knowledge import (
    FORGET_AFTER_HALF_LIVES,
    faded_bound,
    forget,
    learn_now,
    load_knowledge,
    record_failure,
)
from fastsim.kernels.layout import (
    C_KNOW,
    C_PAYMENTS,
    COUNTER_FIELDS,
    KNOW_FIELDS,
    P_COST,
    P_HALF_LIFE,
    P_REMEMBER,
    PARAM_FIELDS,
    PENDING,
    SUCCEEDED,
)
from fastsim.kernels.routing import COST_MODELS, NO_FAILURE
from fastsim.recycling import forget_records
from tests.naive import known_failures
from tests.naive import records_kept as naive_records_kept

# the kernels Python calls here, with the CPython wrapper the package's copies go without
faded_bound = from_python(faded_bound)
load_knowledge = from_python(load_knowledge)
learn_now = from_python(learn_now)
forget = from_python(forget)
record_failure = from_python(record_failure)

N_NODES, N_DIRECTIONS = 3, 6
CAPACITY = np.array([10**9, 5 * 10**8, 10**6, 10**9, 2 * 10**9, 10**9], np.int64)
# each direction's sending and receiving node: 0->1, 1->0, 1->2, 2->1, 0->2, 2->0
ENDS = (np.array([0, 1, 1, 2, 0, 2]), np.array([1, 0, 2, 1, 2, 0]))


def empty_view():
    return (np.full(N_DIRECTIONS, -1, np.int64), np.full(N_DIRECTIONS, NO_FAILURE, np.int64),
            np.full(N_DIRECTIONS, NO_FAILURE, np.int64), np.full(N_DIRECTIONS, np.inf),
            np.zeros(N_DIRECTIONS, np.int64), np.zeros(N_NODES, np.int32), np.zeros(N_NODES, np.int32))


@st.composite
def histories(draw):
    """Payments (node, start) and their failure records, learned in any order: a record of a
    payment is never older than the payment."""
    n_payments = draw(st.integers(1, 8))
    nodes = draw(st.lists(st.integers(0, N_NODES - 1), min_size=n_payments, max_size=n_payments))
    starts = sorted(draw(st.lists(st.floats(0, 50), min_size=n_payments, max_size=n_payments)))
    records = [(nodes[q], q, e, amount, starts[q] + delay) for q, e, amount, delay in draw(st.lists(
        st.tuples(st.integers(0, n_payments - 1), st.integers(0, N_DIRECTIONS - 1),
                  st.integers(0, 2 * 10**9), st.floats(0, 20)), max_size=40))]
    if draw(st.booleans()):
        records.sort(key=lambda r: r[4])  # as the engine learns them
    return nodes, starts, records


def learned(records):
    """The records as record_failure links them, in the order given."""
    n = len(records)
    know = (np.full(N_NODES, -1, np.int32), np.zeros(n, np.int64), np.zeros(n, np.int64),
            np.zeros(n), np.zeros(n, np.int32), np.zeros(n, np.int32), np.full(N_NODES, -1, np.int64))
    counters = np.zeros(len(COUNTER_FIELDS), np.int64)
    version = np.zeros(N_NODES, np.int64)
    for s, q, e, a, t in records:
        record_failure(know, counters, np.int64(s), np.int64(e), np.int64(a), t, np.int64(q), version)
    assert counters[C_KNOW] == n and version.sum() == n
    return know


@settings(max_examples=300, deadline=None)
@given(histories(), st.data(), st.sampled_from(sorted(COST_MODELS)), st.booleans(),
       st.floats(0.5, 30))
def test_load_knowledge_reads_what_the_naive_twin_reads(history, data, cost_model, remember,
                                                        half_life):
    nodes, starts, records = history
    know = learned(records)
    for s in range(N_NODES):  # each list runs newest first, whatever order the records came in
        r, times = know[0][s], []
        while r != -1:
            times.append(know[3][r])
            r = know[5][r]
        assert times == sorted(times, reverse=True)
    params = np.zeros(len(PARAM_FIELDS))
    params[P_COST], params[P_HALF_LIFE], params[P_REMEMBER] = COST_MODELS[cost_model], half_life, remember
    p = data.draw(st.integers(0, len(nodes) - 1))
    last = max([r[4] for r in records], default=0.0)
    now = data.draw(st.floats(max(last, starts[p]), max(last, starts[p]) + 400))
    deadline = data.draw(st.floats(now, now + 100))

    view = empty_view()
    n = load_knowledge(nodes[p], p, now, params, know, np.array(starts), np.full(len(starts), deadline),
                       np.arange(len(starts)), CAPACITY, ENDS, view)
    want_amt, want_fwd, want_age = known_failures(
        records, nodes[p], p, now, deadline=deadline, half_life=half_life, remember=remember,
        lnd=cost_model == "lnd", forget_after=FORGET_AFTER_HALF_LIVES, capacity=CAPACITY)
    assert view[1].tolist() == want_amt.tolist()
    assert view[2].tolist() == want_fwd.tolist()
    assert view[3].tolist() == want_age.tolist()
    assert sorted(view[4][:n].tolist()) == np.flatnonzero(want_amt != NO_FAILURE).tolist()
    # the counts at the ends of the touched directions, which tell a search which lists to check
    assert view[5].tolist() == np.bincount(ENDS[1][view[4][:n]], minlength=N_NODES).tolist()
    assert view[6].tolist() == np.bincount(ENDS[0][view[4][:n]], minlength=N_NODES).tolist()
    e = data.draw(st.integers(0, N_DIRECTIONS - 1))
    n = learn_now(view, n, e, 5, ENDS)
    assert view[1][e] <= 5 and view[2][e] <= 5 and view[3][e] == 0.0
    assert view[5].tolist() == np.bincount(ENDS[1][view[4][:n]], minlength=N_NODES).tolist()
    assert view[6].tolist() == np.bincount(ENDS[0][view[4][:n]], minlength=N_NODES).tolist()
    forget(view, n, ENDS)
    assert all((a == b).all() for a, b in zip(view[:4] + view[5:], empty_view()[:4] + empty_view()[5:]))


def test_a_bound_fades_back_to_the_capacity_with_the_half_life():
    cap, amount, half_life = 10**9, 2 * 10**8, 3600.0
    assert faded_bound(cap, amount, 0.0, half_life) == amount
    assert faded_bound(cap, amount, half_life, half_life) == cap - (cap - amount) // 2
    assert faded_bound(cap, amount, 2 * half_life, half_life) == cap - (cap - amount) // 4
    assert cap - faded_bound(cap, amount, FORGET_AFTER_HALF_LIVES * half_life, half_life) < cap / 1000
    assert faded_bound(cap, 2 * cap, half_life, half_life) == 2 * cap  # beyond the capacity: no news


@settings(max_examples=300, deadline=None)
@given(histories(), st.data(), st.sampled_from(sorted(COST_MODELS)), st.booleans(),
       st.floats(0.05, 30))
def test_forgetting_records_changes_no_later_search(history, data, cost_model, remember, half_life):
    """Records dropped by forget_records are those no later search reads: every open payment's
    view at any later time is the same, and the kept ones are those of the naive twin."""
    nodes, starts, records = history
    know = learned(records)
    n = len(records)
    payments = len(nodes)
    open_payments = set(data.draw(st.lists(st.integers(0, payments - 1), max_size=payments)))
    last = max([r[4] for r in records], default=0.0)
    clock = data.draw(st.floats(last, last + 20 * half_life))
    status = np.array([PENDING if q in open_payments else SUCCEEDED for q in range(payments)], np.int8)
    pays = {"status": status, "hash_of": np.arange(payments, dtype=np.int32)}
    counters = np.zeros(len(COUNTER_FIELDS), np.int64)
    counters[C_KNOW], counters[C_PAYMENTS] = n, payments
    window = np.array([0, 0, data.draw(st.integers(0, n))], np.int64)
    learned_before_window = [know[6][s] >= window[2] for s in range(N_NODES)]  # since the window
    before = {name: a.copy() for name, a in zip(KNOW_FIELDS, know)}
    after = {name: a.copy() for name, a in zip(KNOW_FIELDS, know)}
    dropped = forget_records(after, pays, counters, window, clock_s=clock, half_life_s=half_life,
                             remember=remember)
    horizon = clock - FORGET_AFTER_HALF_LIVES * half_life if remember else np.inf
    kept = naive_records_kept(records, horizon, open_payments)
    assert dropped == n - sum(kept) and counters[C_KNOW] == sum(kept)
    # the prefetch window's test "learned since" reads the same, unless what was learned since
    # can no longer be read
    newest_kept = [before["know_newest"][s] >= 0 and kept[before["know_newest"][s]]
                   for s in range(N_NODES)]
    assert ([after["know_newest"][s] >= window[2] for s in range(N_NODES)]
            == [a and b for a, b in zip(learned_before_window, newest_kept)])
    params = np.zeros(len(PARAM_FIELDS))
    params[P_COST], params[P_HALF_LIFE], params[P_REMEMBER] = COST_MODELS[cost_model], half_life, remember
    for p in sorted(open_payments):
        now = data.draw(st.floats(max(clock, starts[p]), max(clock, starts[p]) + 400))
        deadline = np.full(payments, data.draw(st.floats(now, now + 100)))
        views = []
        for table in (before, after):
            view = empty_view()
            load_knowledge(nodes[p], p, now, params, tuple(table[name] for name in KNOW_FIELDS),
                           np.array(starts), deadline, np.arange(payments), CAPACITY, ENDS, view)
            views.append([v.tolist() for v in view[1:4]])
        assert views[0] == views[1]
