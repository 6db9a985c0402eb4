"""The notebook API: every name fastsim exports resolves, and a scenario runs end to end."""

import fastsim


def test_exported_names_resolve():
    for name in fastsim.__all__:
        assert getattr(fastsim, name) is not None


def test_run_scenario_from_python():
    config = fastsim.load_config(None, overrides={"network.synthetic_nodes": 150,
                                                  "workload.n_payments": 50})
    result, run_info = fastsim.run_scenario(config)
    assert result.payments.height == 50 and run_info["invariants_checked"]
    network = fastsim.synthesize(n_nodes=150, seed=1)
    balances = fastsim.initial_balances(network, mode="half", seed=1)
    workload, _ = fastsim.generate_workload(network, n_payments=20, seed=1)
    assert fastsim.simulate(network, workload, config, balances=balances).payments.height == 20
