"""What a sender knows: its failure records, as its searches read them, against the naive twin."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from fastsim.kernels.events import (
    _FORGET_AFTER_HALF_LIVES,
    P_COST,
    P_HALF_LIFE,
    P_REMEMBER,
    PARAM_FIELDS,
    _load_knowledge,
)
from fastsim.kernels.routing import COST_MODELS, NO_FAILURE
from tests.naive import known_failures

N_SENDERS, N_DIRECTIONS = 3, 6


@st.composite
def histories(draw):
    """Payments (sender, arrival) and their failure records, learned in time order."""
    n_payments = draw(st.integers(1, 8))
    senders = draw(st.lists(st.integers(0, N_SENDERS - 1), min_size=n_payments,
                            max_size=n_payments))
    arrivals = sorted(draw(st.lists(st.floats(0, 50), min_size=n_payments, max_size=n_payments)))
    records, time = [], 0.0
    for q, e, amount, delay in draw(st.lists(st.tuples(
            st.integers(0, n_payments - 1), st.integers(0, N_DIRECTIONS - 1),
            st.integers(0, 10**9), st.floats(0, 20)), max_size=40)):
        time = max(time, arrivals[q] + delay)
        records.append((senders[q], q, e, amount, time))
    return senders, arrivals, records


@settings(max_examples=300, deadline=None)
@given(histories(), st.data(), st.sampled_from(sorted(COST_MODELS)), st.booleans(),
       st.floats(0.5, 30))
def test_load_knowledge_reads_what_the_naive_twin_reads(history, data, cost_model, remember,
                                                        half_life):
    senders, arrivals, records = history
    know = (np.full(N_SENDERS, -1, np.int32), np.zeros(len(records), np.int64),
            np.zeros(len(records), np.int64), np.zeros(len(records)),
            np.zeros(len(records), np.int32), np.zeros(len(records), np.int32))
    head, direction, amount, time, payment, nxt = know
    for r, (s, q, e, a, t) in enumerate(records):  # as the engine learns them: newest first
        direction[r], amount[r], time[r], payment[r], nxt[r] = e, a, t, q, head[s]
        head[s] = r
    params = np.zeros(len(PARAM_FIELDS))
    params[P_COST], params[P_HALF_LIFE], params[P_REMEMBER] = COST_MODELS[cost_model], half_life, remember
    p = data.draw(st.integers(0, len(senders) - 1))
    last = records[-1][4] if records else 0.0
    now = data.draw(st.floats(max(last, arrivals[p]), max(last, arrivals[p]) + 400))

    fail_amt = np.full(N_DIRECTIONS, NO_FAILURE, np.int64)
    fail_age = np.full(N_DIRECTIONS, np.inf)
    touched = np.zeros(N_DIRECTIONS, np.int64)
    n = _load_knowledge(senders[p], p, now, params, know, np.array(arrivals), fail_amt, fail_age,
                        touched)
    want_amt, want_age = known_failures(
        records, senders[p], p, now, half_life=half_life, remember=remember,
        lnd=cost_model == "lnd", forget_after=_FORGET_AFTER_HALF_LIVES, n_directions=N_DIRECTIONS)
    assert fail_amt.tolist() == want_amt.tolist()
    assert fail_age.tolist() == want_age.tolist()
    assert sorted(touched[:n].tolist()) == np.flatnonzero(want_amt != NO_FAILURE).tolist()
