"""fastsim: a vectorized, high-throughput batch simulator of Lightning Network payments.

The notebook API, imported on first use::

    import fastsim
    network = fastsim.load_network("../shared/data/ln-2026-02-03.listchannels.json.gz")
    result, run_info = fastsim.run_scenario(fastsim.load_config("configs/small.toml"), network=network)
    result.payments  # a polars.DataFrame
"""

from importlib import import_module
from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("fastsim")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0+unknown"

_API = {
    "load_network": "fastsim.importers", "import_network": "fastsim.importers",
    "synthesize": "fastsim.synth", "initial_balances": "fastsim.liquidity",
    "generate_workload": "fastsim.workload", "read_workload": "fastsim.workload",
    "load_config": "fastsim.config", "simulate": "fastsim.engine",
    "prepare": "fastsim.scenario", "run_scenario": "fastsim.scenario",
    "write_results": "fastsim.results", "Network": "fastsim.network",
}
__all__ = ["__version__", *_API]


def __getattr__(name: str):
    if name in _API:
        return getattr(import_module(_API[name]), name)
    raise AttributeError(f"module 'fastsim' has no attribute {name!r}")
