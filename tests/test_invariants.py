"""Each DESIGN.md 2.8 check reports the corruption it exists for, and simulate() runs them."""

import copy

import numpy as np
import pytest

from fastsim.config import load_config
from fastsim.engine import InvariantViolation, simulate
from fastsim.invariants import check, violations
from fastsim.kernels.htlcs import FAILED, IN_FLIGHT
from fastsim.kernels.layout import FAILED_PAYMENT, OUT_PENDING, PAY_MPP, PENDING
from fastsim.scenario import prepare

# JIT-routing netting conditional circles and multipart payments, so that every check has
# something to look at
CONFIG = load_config(None, overrides={"network.synthetic_nodes": 120, "workload.n_payments": 300,
                                      "seed": 3, "jit.variant": "conditional", "jit.adoption": 1.0,
                                      "jit.budget": "none", "mpp.enabled": True})


@pytest.fixture(scope="module")
def finished():
    scenario = prepare(CONFIG)
    result = simulate(scenario.network, scenario.workload, CONFIG, balances=scenario.balances)
    assert violations(result, scenario.network) == []
    assert result.payments["succeeded"].sum() > 50 and result.payments["attempts"].max() > 1
    assert (result.htlcs["state"] == "netted").sum() > 0 and result.payments["parts"].max() > 1
    return result, scenario.network


def settled_forward(st):
    """A settled HTLC that funded a forward (its funds points at the next HTLC)."""
    h = st["htlcs"]
    return int(np.flatnonzero((h["state"] == 1) & (h["funds"] >= 0))[0])


def corrupt_balance(st):
    st["balance_msat"][3] += 1


def corrupt_negative(st):
    st["balance_msat"][0] -= st["capacity_msat"][0] + 5
    st["balance_msat"][1] += st["capacity_msat"][0] + 5


def corrupt_lock(st):
    st["inflight_count"][7] += 1


def corrupt_earned(st):
    st["fees_earned_msat"][int(np.argmax(st["fees_earned_msat"]))] += 1


def corrupt_in_flight(st):
    st["htlcs"]["state"][0] = IN_FLIGHT


def corrupt_pending(st):
    st["status"][0] = PENDING


def corrupt_settled_reported_failed(st):
    routed = (st["status"] == 1) & (st["kind"] != PAY_MPP)  # a part, or a circle
    st["status"][int(np.flatnonzero(routed)[0])] = FAILED_PAYMENT


def corrupt_mixed_attempt(st):
    st["htlcs"]["state"][settled_forward(st)] = FAILED


def corrupt_sent(st):
    st["sent_msat"][st["src"][int(np.flatnonzero(st["status"] == 1)[0])]] += 1


def corrupt_decision(st):
    st["jit_table"]["jit_outcome"][0] = OUT_PENDING


def corrupt_rebalancing(st):
    st["dir_rebalancing"][5] = 1


def corrupt_netting(st):
    h = st["htlcs"]
    h["nets"][int(np.flatnonzero(h["nets"] >= 0)[0])] = -1


def corrupt_circle_fate(st):
    h = st["htlcs"]
    chain = int(h["nets"][int(np.flatnonzero(h["nets"] >= 0)[0])])
    h["state"][(h["attempt"] == h["attempt"][chain]) & (h["state"] == 1)] = FAILED


def corrupt_multipart(st):
    part = int(np.flatnonzero((st["parent"] >= 0) & (st["status"] == 1))[0])
    st["status"][st["parent"][part]] = FAILED_PAYMENT


def corrupt_fee(st):
    h = st["htlcs"]
    h["amount_msat"][h["funds"][settled_forward(st)]] += 1


@pytest.mark.parametrize("corrupt, words", [
    (corrupt_balance, "do not add up to their capacity"),
    (corrupt_negative, "negative balances"),
    (corrupt_lock, "still locked"),
    (corrupt_earned, "money not conserved"),
    (corrupt_earned, "differ from fees earned"),
    (corrupt_in_flight, "HTLCs never resolved"),
    (corrupt_pending, "payments never resolved"),
    (corrupt_settled_reported_failed, "outcome disagrees with the fate of its HTLCs"),
    (corrupt_mixed_attempt, "both settled and failed HTLCs"),
    (corrupt_fee, "a fee other than BOLT #7's"),
    (corrupt_sent, "sent or received amounts differ"),
    (corrupt_decision, "JIT decisions never ended"),
    (corrupt_rebalancing, "rebalances still counted in flight"),
    (corrupt_netting, "not in exactly one netting"),
    (corrupt_circle_fate, "do not share their payment's fate"),
    (corrupt_multipart, "multipart payments settled other than all their parts together"),
])
def test_each_check_reports_its_corruption(finished, corrupt, words):
    result, network = finished
    broken = copy.copy(result)
    broken.state = copy.deepcopy(result.state)
    corrupt(broken.state)
    found = violations(broken, network)
    assert any(words in v for v in found), found
    with pytest.raises(InvariantViolation, match=words.replace("#", "\\#")):
        check(broken, network)


def test_simulate_checks_the_invariants(finished, monkeypatch):
    """simulate() raises when a check fails (here one made to fail), unless told not to check."""
    scenario = prepare(CONFIG)
    monkeypatch.setattr("fastsim.invariants.violations", lambda result, network: ["made to fail"])
    with pytest.raises(InvariantViolation, match="made to fail"):
        simulate(scenario.network, scenario.workload, CONFIG, balances=scenario.balances)
    simulate(scenario.network, scenario.workload, CONFIG, balances=scenario.balances,
             check_invariants=False)
