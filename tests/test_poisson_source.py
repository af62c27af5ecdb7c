"""PoissonSource: each neuron spikes in a step with probability rate * dt, independently of
other steps and neurons (Brian2's PoissonGroup), drawn as geometric gaps between spikes."""

import numpy as np
import pytest

import neurosim as ns


def _spikes(n=2000, rate=50.0, dt=0.1, duration=1000.0, seed=1, chunk_ms=None):
    net = ns.Network(dt=dt, seed=seed)
    net.population("p", ns.PoissonSource(n, rate=rate))
    return net.run(duration, progress=False, chunk_ms=chunk_ms).spikes["p"]


def test_counts_per_step_are_binomial_and_intervals_geometric():
    n, rate, dt, duration = 2000, 50.0, 0.1, 1000.0
    spikes = _spikes(n, rate, dt, duration)
    p, steps = rate * dt * 1e-3, int(duration / dt)
    counts = np.bincount(np.rint(spikes.times / dt).astype(int), minlength=steps)
    # mean and variance of Binomial(n, p) per step, within 5 standard errors of the sample
    mean, var = n * p, n * p * (1 - p)
    assert abs(counts.mean() - mean) < 5 * np.sqrt(var / steps)
    assert abs(counts.var() - var) < 5 * var * np.sqrt(2 / steps)
    # a neuron never spikes twice in a step; its gaps (in steps) are geometric: P(gap = 1) = p
    order = np.lexsort((spikes.times, spikes.indices))
    idx, step = spikes.indices[order], np.rint(spikes.times[order] / dt).astype(int)
    gaps = np.diff(step)[np.diff(idx) == 0]
    assert gaps.min() >= 1
    assert abs(np.mean(gaps == 1) - p) < 5 * np.sqrt(p * (1 - p) / gaps.size)
    assert abs(gaps.mean() - 1 / p) < 5 * np.sqrt((1 - p) / p**2 / gaps.size)


@pytest.mark.parametrize("chunk_ms", [0.7, 33.3, 250.0])
def test_spikes_do_not_depend_on_chunking(chunk_ms):
    whole = _spikes(300, ns.Uniform(5.0, 80.0), duration=300.0)
    chunked = _spikes(300, ns.Uniform(5.0, 80.0), duration=300.0, chunk_ms=chunk_ms)
    np.testing.assert_array_equal(whole.times, chunked.times)
    np.testing.assert_array_equal(whole.indices, chunked.indices)


def test_rate_zero_never_spikes_and_rate_one_per_step_always_does():
    spikes = _spikes(4, np.array([0.0, 0.0, 10000.0, 10000.0]), dt=0.1, duration=20.0)
    assert set(spikes.indices.tolist()) == {2, 3}
    assert np.sum(spikes.indices == 2) == 200
