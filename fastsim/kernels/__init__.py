"""Numba kernels over flat numpy arrays. Nothing here imports the rest of the package."""
