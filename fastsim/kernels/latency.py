"""Message latencies: a counter-based random stream keyed by the message, so that a latency is a pure
function of what the message is (payment, attempt, hop, kind) and both engine modes draw the same."""

import math

import numpy as np

from fastsim.kernels._jit import njit


@njit(inline="always")
def _mix64(x):
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def _ziggurat_tables(tail, layers=128, area=9.91256303526217e-3):
    """Marsaglia and Tsang's ziggurat for the normal distribution (J. Stat. Soft. 5(8), 2000):
    per layer, the integer threshold of its fast path, its width per integer step, and the
    density at its edge."""
    scale = 2.0**31
    k = np.zeros(layers)
    w = np.zeros(layers)
    f = np.zeros(layers)
    edge = prev = tail
    q = area / math.exp(-0.5 * tail * tail)
    k[0], w[0], f[0] = (tail / q) * scale, q / scale, 1.0
    w[layers - 1], f[layers - 1] = tail / scale, math.exp(-0.5 * tail * tail)
    for i in range(layers - 2, 0, -1):
        edge = math.sqrt(-2.0 * math.log(area / edge + math.exp(-0.5 * edge * edge)))
        k[i + 1] = (edge / prev) * scale
        prev = edge
        f[i] = math.exp(-0.5 * edge * edge)
        w[i] = edge / scale
    return k, w, f


# constants of the distribution, not tunables: kernels read them as compile-time constants
_ZIG_TAIL = 3.442619855899
_ZIG_K, _ZIG_W, _ZIG_F = _ziggurat_tables(_ZIG_TAIL)


@njit(inline="always")
def _draw(h, k):
    """The k-th 64 random bits of the stream keyed by h (a counter-based generator)."""
    return _mix64(h + np.uint64(k + 1) * np.uint64(0x9E3779B97F4A7C15))


@njit(inline="always")
def _uniform(bits):
    """A uniform double in (0, 1] from 64 random bits."""
    return ((bits >> np.uint64(11)) + np.uint64(1)) * (1.0 / 9007199254740992.0)


@njit
def half_normal(h):
    """|N(0, 1)| drawn from the stream keyed by ``h``, by the ziggurat: one table test and a
    multiplication nearly always, logarithms and exponentials only in the rare slow path."""
    k = 0
    while True:
        hz = np.int64(np.int32(np.uint32(_draw(h, k) >> np.uint64(32))))
        k += 1
        layer = hz & 127
        x = hz * _ZIG_W[layer]
        if abs(hz) < _ZIG_K[layer]:
            return abs(x)
        if layer == 0:  # the tail beyond the base layer
            while True:
                x = -math.log(_uniform(_draw(h, k))) / _ZIG_TAIL
                y = -math.log(_uniform(_draw(h, k + 1)))
                k += 2
                if y + y >= x * x:
                    return _ZIG_TAIL + x
        u = _uniform(_draw(h, k))
        k += 1
        if _ZIG_F[layer] + u * (_ZIG_F[layer - 1] - _ZIG_F[layer]) < math.exp(-0.5 * x * x):
            return abs(x)


@njit
def hop_latency_s(seed, payment, attempt_number, hop, kind, latency_ms, jitter_ms):
    """Latency of one message, a pure function of what it is (so both modes draw the same)."""
    if jitter_ms == 0.0:
        return latency_ms / 1000.0
    h = _mix64(np.uint64(seed) + np.uint64(0x9E3779B97F4A7C15) * np.uint64(payment + 1))
    h = _mix64(h ^ np.uint64((attempt_number * 64 + hop) * 4 + kind))
    return (latency_ms + jitter_ms * half_normal(h)) / 1000.0
