"""fastsim: a vectorized, high-throughput batch simulator of Lightning Network payments."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("fastsim")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0+unknown"
