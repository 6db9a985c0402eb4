"""Names and codes the engine's kernels share with each other and with ``engine.py``: event kinds,
payment kinds, states and failure reasons, and the order of the arrays in every tuple a kernel
unpacks (``engine.py`` builds each tuple from a dict whose keys must match these names exactly).

Codes passed to jitted functions are numpy scalars, not Python ints or bools: Numba compiles a
separate copy of the callee for every literal it is called with.
"""

import numpy as np

# events; a heap entry's value is object * 8 + kind
EV_ATTEMPT = np.int64(0)  # a sender (or a JIT node for its circle) starts an attempt
EV_ARRIVE = np.int64(1)  # an HTLC reaches the next node
EV_SETTLE = np.int64(2)  # the fulfil of an HTLC reaches the node that offered it
EV_FAIL = np.int64(3)  # the fail of an HTLC reaches the node that offered it
EV_HTLC_TIMEOUT = np.int64(4)  # a node gives up on an HTLC its unresponsive peer never answered
EV_HOLD_TIMEOUT = np.int64(5)  # a JIT node stops waiting for its rebalance and fails the held HTLC
EV_MPP_TIMEOUT = np.int64(6)  # a receiver stops waiting for the rest of a multipart payment

# payments: workload payments first, then the circles JIT nodes send to themselves and the parts
# of multipart payments (a multipart payment routes nothing itself: its parts do)
PAY_WORKLOAD = np.int64(0)
PAY_CIRCLE = np.int64(1)
PAY_MPP = np.int64(2)
PAY_PART = np.int64(3)

PENDING = np.int64(0)
SUCCEEDED = np.int64(1)
FAILED_PAYMENT = np.int64(2)

REASON_NONE = np.int64(0)
REASON_NO_ROUTE = np.int64(1)
REASON_LIQUIDITY = np.int64(2)
REASON_FEE_BUDGET = np.int64(3)
REASON_HTLC_SLOTS = np.int64(4)
REASON_CLTV = np.int64(5)
REASON_MAX_HOPS = np.int64(6)
REASON_HTLC_TIMEOUT = np.int64(7)  # an HTLC stuck at an unresponsive node timed out
REASON_RETRY_TIMEOUT = np.int64(8)  # the sender ran out of retry_for time (a circle: of jit.timeout_s)
REASON_MPP_TIMEOUT = np.int64(9)  # the receiver did not get every part within mpp.timeout_s
REASON_NAMES = ("", "no_route", "liquidity", "fee_budget", "htlc_slots", "cltv", "max_hops",
                "htlc_timeout", "retry_timeout", "mpp_timeout")

# JIT: variants, amount and budget policies, and what became of each decision
JIT_NONE, JIT_REBALANCE, JIT_CONDITIONAL, JIT_MULTI = 0, 1, 2, 3
JIT_VARIANTS = ("none", "rebalance", "conditional", "multi")
JIT_AMOUNTS = ("exact", "plugin", "midway")
AMOUNT_EXACT, AMOUNT_PLUGIN, AMOUNT_MIDWAY = 0, 1, 2
JIT_BUDGETS = ("fee", "earnings", "none")
BUDGET_FEE, BUDGET_EARNINGS, BUDGET_NONE = 0, 1, 2
OUT_PENDING = np.int64(0)
OUT_REBALANCED = np.int64(1)
OUT_REFUSED_BUDGET = np.int64(2)
OUT_NO_CIRCLE = np.int64(3)
OUT_CIRCLES_FAILED = np.int64(4)
OUT_TIMEOUT = np.int64(5)
OUT_BUSY = np.int64(6)
SOURCE_HOLD = np.int64(-2)  # jit_held of a sender's own decision (source JIT): it holds no HTLC
OUTCOME_NAMES = ("pending", "rebalanced", "refused_budget", "no_circle", "circles_failed", "timeout",
                 "busy")

STATUS_DONE = 0
STATUS_CHUNK = 1
STATUS_NEED_SPACE = 2
STATUS_INVARIANT = 3
STATUS_PREFETCH = 4
STATUS_SPECULATE = 5
STATUS_SAMPLE = 6  # the clock reached the timeline's next moment

CHANNEL_FIELDS = ("balance_msat", "inflight_msat", "inflight_count", "reserve_msat")
TOPOLOGY_FIELDS = ("out_ptr", "out_dir", "dir_src", "dir_dst", "dir_capacity_msat", "enabled",
                   "htlc_min_msat", "htlc_max_msat", "fee_base_msat", "fee_rate_ppm", "cltv_delta")
# ``t_start_s``: when the sender starts (its arrival, or in atomic mode once the previous payment is
# done); ``last_hop`` and ``first_hop``: a circle's fixed last and first directions (-1: free);
# ``budget_msat``: the most the sender pays in fees; ``held_by``: the JIT decision now holding one
# of its HTLCs (-1: none); ``hash_of``: the payment whose hash it travels on (a conditional circle:
# the payment it rebalances for); ``consolidates``: its sender may fund its first hop with
# conditional circles (source JIT); a multipart payment's ``parent`` of each part, and its own
# ``parts`` created, ``parts_open`` not yet ended, ``held_msat`` the receiver holds of it and when
# the last part arrived (``t_last_part_s``), ``unsettled`` parts it released that have not settled
# back at the sender
PAYMENT_FIELDS = ("src", "dst", "amount_msat", "t_start_s", "status", "reason", "attempts",
                  "fee_msat", "hops", "t_done_s", "pay_first_in", "last_reason", "kind", "depth",
                  "last_hop", "budget_msat", "max_attempts", "deadline_s", "jit_event",
                  "jit_events", "held_by", "first_hop", "hash_of", "consolidates", "parent",
                  "parts", "parts_open", "held_msat", "t_last_part_s", "unsettled")
# one row per attempt in flight (rows are recycled with their hash group's, see fastsim.recycling):
# ``number``: the attempt's number within its payment; ``serial``: its number within the run, the
# one outputs give (a row's index is not: rows move)
ATTEMPT_FIELDS = ("payment", "number", "route_start", "n_hops", "t_start_s", "fail_direction",
                  "fail_amount_msat", "fail_reason", "serial")
ROUTE_FIELDS = ("route_direction", "route_amount_msat", "route_cltv")
# failure records, linked per node newest first from ``know_head``; ``know_newest``: per node the
# record it learned last
KNOW_FIELDS = ("know_head", "know_direction", "know_amount_msat", "know_time_s", "know_payment",
               "know_next", "know_newest")
NODE_FIELDS = ("fees_earned_msat", "fees_paid_msat", "sent_msat", "received_msat", "forwards",
               "rebalance_fees_msat", "rebalances")
# one row per JIT decision; ``jit_held``: the incoming HTLC it holds; ``jit_circle``: the first of
# the ``jit_circles`` circle payments it sent (-1: none); ``jit_needed``: whether the forward
# needed the circles' liquidity; conditional variants: ``jit_ready`` circles whose last HTLC has
# reached N, held there (chained from ``jit_nets``) until all have and N nets them at once
JIT_FIELDS = ("jit_t_s", "jit_node", "jit_payment", "jit_attempt", "jit_depth", "jit_direction",
              "jit_shortfall_msat", "jit_amount_msat", "jit_budget_msat", "jit_held", "jit_circle",
              "jit_outcome", "jit_forwarded", "jit_needed", "jit_lockup", "jit_t_done_s",
              "jit_circles", "jit_ready", "jit_nets")
# per node whether it runs JIT; per direction the fees earned forwarding out of it, the rebalances
# in flight for it and the fees its rebalances cost
JIT_STATE_FIELDS = ("adopter", "dir_earned_msat", "dir_rebalancing", "dir_rebalance_fees_msat")
COUNTER_FIELDS = ("n_htlcs", "heap_size", "seq", "n_route", "n_attempts", "n_know", "next_payment",
                  "events", "bad_channel", "route_searches", "prefetched_routes_used", "free_slots",
                  "pending_slots", "speculated_retries", "speculated_retries_used",
                  "prefetched_routes_revalidated", "potentials_reused", "n_payments", "n_workload",
                  "n_jit", "attempts_started")
# ``n_attempts``: attempt rows in use; ``attempts_started``: attempts in all, the next serial
(C_HTLCS, C_HEAP, C_SEQ, C_ROUTE, C_ATTEMPTS, C_KNOW, C_NEXT_PAYMENT, C_EVENTS,
 C_BAD_CHANNEL, C_SEARCHES, C_PREFETCH_USED, C_FREE_SLOTS, C_PENDING_SLOTS, C_SPECULATED,
 C_SPECULATED_USED, C_REVALIDATED, C_REUSED, C_PAYMENTS, C_WORKLOAD,
 C_JIT, C_ATTEMPTS_STARTED) = range(len(COUNTER_FIELDS))
# the event queue: a heap of (time, sequence) -> value, and ``clock``: the time of the last event
# that changed anything (atomic mode starts the next payment no earlier), then the time at which the
# loop returns for the timeline to be sampled
HEAP_FIELDS = ("keys", "ties", "vals", "clock")

# ``window``: first and end payment of the window, and the count of failure records when its
# routes were computed; ``pre_time``: the time each was computed for; ``pre_usable``: see
# attempts._usable_mask
PREFETCH_FIELDS = ("window", "pre_version", "pre_status", "pre_n_hops", "pre_direction",
                   "pre_amount_msat", "pre_cltv", "pre_usable", "pre_time")
PINNED = -2  # a prefetch entry given by the caller, used whatever the sender's state
# Retries computed ahead: ``retry_slot[p]`` is payment p's slot (-1: none). A slot is taken when
# a failure is detected, computed in parallel with the other pending slots once a retry is due,
# and used if the sender's version is the one the computation predicted.
RETRY_FIELDS = ("retry_slot", "slot_attempt", "slot_time", "slot_delivered", "slot_version",
                "slot_status", "slot_n_hops", "slot_direction", "slot_amount_msat", "slot_cltv",
                "free_slots", "pending_slots")
UNCOMPUTED = -1
REUSED = -2
# Forward potentials (see routing.make_potential) that a sender's retry may reuse: per sender the
# last one kept at an attempt's start and its payment; the one of a live search; and those of
# retries and first routes computed ahead, per slot and per window entry. A count of REUSED marks
# the potential of a search that reused the sender's.
POTENTIAL_FIELDS = ("pot_payment", "pot_ints", "pot_floats", "live_pot_ints", "live_pot_floats",
                    "slot_pot_ints", "slot_pot_floats", "pre_pot_ints", "pre_pot_floats")
# a block's scratch for what its sender knows: own spendable balances, failure bounds for the
# search and for its forward potential, the ages of failures, the directions it touched, and per
# node how many of them end and start there (a search reads a node's list's failures only then)
VIEW_FIELDS = ("own_spendable", "fail_amt", "fwd_fail_amt", "fail_age", "touched_dirs",
               "failed_into", "failed_from")

PARAM_FIELDS = ("mode_atomic", "cost_model", "mu", "apriori", "half_life_s", "attempt_cost_msat",
                "attempt_cost_ppm", "max_hops", "max_cltv", "final_cltv", "retry_for_s",
                "remember_failures", "max_accepted_htlcs", "latency_ms", "latency_jitter_ms", "seed",
                "debug_invariants", "htlc_timeout_s", "reuse_potentials", "jit_variant",
                "jit_max_circle_hops", "jit_max_circles", "jit_amount", "jit_budget",
                "jit_budget_factor", "jit_timeout_s", "jit_max_depth", "jit_one_per_channel",
                "jit_source", "overpay_ppm", "mpp_part_msat", "mpp_max_splits", "mpp_max_parts",
                "mpp_min_part_msat", "mpp_timeout_s")
(P_ATOMIC, P_COST, P_MU, P_APRIORI, P_HALF_LIFE, P_ATTEMPT_MSAT, P_ATTEMPT_PPM, P_MAX_HOPS,
 P_MAX_CLTV, P_FINAL_CLTV, P_RETRY_FOR, P_REMEMBER, P_MAX_HTLCS, P_LATENCY, P_JITTER, P_SEED,
 P_DEBUG, P_HTLC_TIMEOUT, P_REUSE, P_JIT_VARIANT, P_JIT_MAX_HOPS, P_JIT_MAX_CIRCLES, P_JIT_AMOUNT,
 P_JIT_BUDGET, P_JIT_BUDGET_FACTOR, P_JIT_TIMEOUT, P_JIT_MAX_DEPTH, P_JIT_ONE_PER_CHANNEL,
 P_JIT_SOURCE, P_OVERPAY_PPM, P_MPP_PART, P_MPP_MAX_SPLITS, P_MPP_MAX_PARTS, P_MPP_MIN_PART,
 P_MPP_TIMEOUT) = range(len(PARAM_FIELDS))

NO_DIRECTION = np.int64(-1)
NO_MSAT = np.int64(0)
FIRST_PART = np.int64(0)
SENDER_HOP = np.int64(0)
