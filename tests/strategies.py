"""Hypothesis strategies shared by the property tests."""

from hypothesis import strategies as st


@st.composite
def channel_ends(draw, *, min_nodes=3, max_nodes=8, min_channels=2, max_channels=16):
    """(n_nodes, [(node0, node1), ...]) without self-loops; parallel channels allowed."""
    n = draw(st.integers(min_nodes, max_nodes))
    m = draw(st.integers(min_channels, max_channels))
    ends = []
    for _ in range(m):
        a = draw(st.integers(0, n - 1))
        b = draw(st.integers(0, n - 2))
        ends.append((a, b + (b >= a)))
    return n, ends


def per_direction(draw, values, n_channels):
    return draw(st.lists(values, min_size=2 * n_channels, max_size=2 * n_channels))
