"""The common ``duration`` parameter means one thing in every registered experiment: the
simulated time of one trial, in ms (neurosim.experiments' module docstring)."""

import typing

import pytest

from neurosim import experiments


def test_every_experiment_documents_duration_the_same_way():
    for name in experiments.names():
        exp = experiments.get(name)
        kind, default = exp.parameters["duration"]
        assert kind in (float, typing.Optional[float], float | None), (name, kind)
        assert default is None or (isinstance(default, float) and default > 0), (name, default)
        assert "simulated time per trial, ms" in " ".join(exp.doc.split()), name


def test_duration_steps():
    assert experiments.duration_steps(25.0) == 25 and experiments.duration_steps(1.0, 0.5) == 2
    for bad in (0.5, float("nan"), float("inf"), True, "10"):
        with pytest.raises(ValueError, match=r"duration \(simulated time per trial, ms\)"):
            experiments.duration_steps(bad)


@pytest.mark.slow
def test_force_sine_duration_is_the_whole_run():
    m = experiments.run("force-sine", duration=30.0, settle=10.0, train=10.0, n=60, dt=0.5, learn_every=2,
                        out=None, progress=False)
    assert m["nrmse_test"] >= 0  # a 10 ms test phase ran


def test_force_sine_refuses_a_duration_without_a_test_phase():
    with pytest.raises(ValueError, match=r"duration \(20 ms\) is the whole simulated run.*settle \+ train \(20 ms\)"):
        experiments.run("force-sine", duration=20.0, settle=10.0, train=10.0, n=60, out=None, progress=False)


def test_experiments_without_their_own_trial_length_refuse_a_duration():
    with pytest.raises(ValueError, match="duration .*set by each task"):
        experiments.run("sequence-benchmark", duration=100.0, out=None, progress=False)
    with pytest.raises(ValueError, match="duration"):
        experiments.run("hlop-permuted-digits", duration=0.2, out=None, progress=False)
