"""The polychronization experiment (Izhikevich 2006, ``examples/polychronization.py``).

* the network's structure is spnet.m's (out-degree, delays 5 per value, inhibitory onto
  excitatory only, no self-connections, weights);
* a from-scratch re-implementation of spnet.m's loop (its arrays: ``post[N, M]``, the delay of
  each column, spike lists per millisecond), given the same connectivity and thalamic
  sequence, gives every spike on the same step and the same weights after the first
  once-per-second update: the delays act as spnet.m's and the rule is IzhikevichSTDP's (traces
  at the arrival, sd accumulated, w and sd updated after the step ending at 1 s). The
  reference follows neurosim's order within a millisecond (arrivals, then postsynaptic
  spikes), which is the one documented difference from spnet.m;
* the experiment runs and writes its figures and metrics.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from neurosim.examples import polychronization as P
from neurosim.experiments import run


@pytest.fixture(scope="module")
def built():
    return P.build(seed=3, duration=1001.0)


def _synapses(built):
    """Global (pre, post, delay_ms, weight) of the excitatory and the inhibitory synapses."""
    n_exc = len(built.exc)
    exc = [np.concatenate(x) for x in zip(*[(p.sources(), p.target + (0 if p.target_population is built.exc else n_exc),
                                             p.delay * built.net.dt, p.weight) for p in built.plastic])]
    q = built.inhibitory
    inh = (q.sources() + n_exc, q.target, q.delay * built.net.dt, q.weight)
    return exc, inh


def test_structure_is_spnet(built):
    """100 distinct targets per neuron, none itself; excitatory onto all with weight 6 and
    delays 1..20 ms, 5 per value per neuron, plastic; inhibitory onto excitatory only, -5, 1 ms."""
    (pre, post, delay, w), (ipre, ipost, idelay, iw) = _synapses(built)
    n_exc, n = len(built.exc), len(built.exc) + len(built.inh)
    assert np.array_equal(np.bincount(pre, minlength=n_exc), np.full(n_exc, 100))
    assert np.array_equal(np.bincount(ipre - n_exc, minlength=n - n_exc), np.full(n - n_exc, 100))
    assert np.all(pre != post) and np.all(ipre != ipost)
    assert len(set(zip(pre.tolist(), post.tolist()))) == pre.size  # distinct targets
    assert len(set(zip(ipre.tolist(), ipost.tolist()))) == ipre.size
    assert post.max() >= n_exc and post.min() == 0  # excitatory reach both populations
    assert ipost.max() < n_exc  # inhibitory onto excitatory only
    per_value = np.zeros((n_exc, 21), dtype=int)
    np.add.at(per_value, (pre, delay.astype(int)), 1)
    assert np.all(per_value[:, 1:] == 5) and np.all(per_value[:, 0] == 0)
    assert np.all(w == 6.0) and np.all(iw == -5.0) and np.all(idelay == 1.0)
    assert all(p.plastic for p in built.plastic) and not built.inhibitory.plastic
    assert built.exc.model.a == pytest.approx(0.02) and built.inh.model.a == pytest.approx(0.1)


def spnet_reference(built, n_steps: int):
    """spnet.m's main loop on ``built``'s connectivity and thalamic sequence, with neurosim's
    order within a millisecond; returns (set of (step, neuron) spikes, w, sd) of the excitatory
    synapses (in ``_synapses`` order) after ``n_steps`` steps of 1 ms.

    Per ms ``t``: v (two 0.5 ms half-steps) and u with the current I of the arrivals of ``t - 1``;
    ``fired = v >= 30``, reset; then the arrivals of ``t``: every spike fired at ``s`` through a
    synapse of delay ``d`` with ``s + d - 1 = t`` (spnet.m's delay ``d``: the synapse acts on the
    update ``d`` ms after the one that fired) adds its weight to I of step ``t + 1`` and sets
    ``sd -= 0.12 * 0.95^(t - last postsynaptic spike)``; the thalamic pulse of ``t`` enters I of
    ``t + 1`` too; then for every neuron that fired, every incoming excitatory synapse takes
    ``sd += 0.1 * 0.95^(t - its last arrival)``. After the step that ends at a whole second:
    ``w = clip(w + 0.01 + sd, 0, 10)``, ``sd = 0.9 sd``."""
    (pre, post, delay, w), (ipre, ipost, _, iw) = _synapses(built)
    w, sd = w.copy(), np.zeros_like(w)
    delay = delay.astype(int)
    n_exc, n = len(built.exc), len(built.exc) + len(built.inh)
    a = np.r_[np.full(n_exc, 0.02), np.full(n - n_exc, 0.1)]
    d = np.r_[np.full(n_exc, 8.0), np.full(n - n_exc, 2.0)]
    v, u = np.full(n, -65.0), np.full(n, -13.0)
    i_exc, i_inh = np.zeros(n), np.zeros(n)
    thal = built.net.populations["thalamus"].model
    thal_at = dict(zip(np.rint(thal.times).astype(int).tolist(), thal.indices.tolist()))
    by_pre_delay = {}
    for k in range(pre.size):
        by_pre_delay.setdefault((int(pre[k]), int(delay[k])), []).append(k)
    by_pre_delay = {key: np.array(ks) for key, ks in by_pre_delay.items()}
    inh_by_pre = {int(i): ipost[ipre == i] for i in np.unique(ipre)}
    incoming = [np.flatnonzero(post == j) for j in range(n)]
    last_post = np.full(n, -np.inf)
    last_arrival = np.full(pre.size, -np.inf)
    fired_at, spikes = [], set()
    tau = -1.0 / math.log(0.95)
    for t in range(n_steps):
        current = i_exc + i_inh + 0.0
        for _ in range(2):
            v = v + 0.5 * (0.04 * v * v + 5.0 * v + 140.0 - u + current)
        u = u + 1.0 * (a * (0.2 * (v - 0.0) - u))
        i_exc, i_inh = np.zeros(n), np.zeros(n)
        fired = np.flatnonzero(v >= 30.0)
        v[fired] = -65.0
        u[fired] = u[fired] + d[fired]
        fired_at.append(fired)
        spikes.update((t, int(j)) for j in fired)
        for dd in range(1, 21):  # arrivals of step t
            if t - dd + 1 < 0:
                break
            for i in fired_at[t - dd + 1]:
                ks = by_pre_delay.get((int(i), dd))
                if ks is not None:
                    np.add.at(i_exc, post[ks], w[ks])
                    sd[ks] -= 0.12 * np.exp(-(t - last_post[post[ks]]) / tau)
                    last_arrival[ks] = t
        for i in fired_at[t]:
            if i >= n_exc:
                np.add.at(i_inh, inh_by_pre[int(i)], -5.0)
        if t in thal_at:
            i_exc[thal_at[t]] += P.THALAMIC_I
        for j in fired:  # postsynaptic spikes of step t
            ks = incoming[j]
            sd[ks] += 0.1 * np.exp(-(t - last_arrival[ks]) / tau)
            last_post[j] = t
        if (t + 1) % 1000 == 0:
            w = np.clip(w + 0.01 + sd, 0.0, 10.0)
            sd = 0.9 * sd
    return spikes, w, sd


@pytest.mark.slow
def test_spikes_and_weights_match_spnet_reference(built):
    """Every spike on the same step for 1001 ms, and the weights after the update at 1 s."""
    n_steps = 1001
    spikes, w_ref, sd_ref = spnet_reference(built, n_steps)
    result = built.net.run(float(n_steps), progress=False)
    n_exc = len(built.exc)
    ours = {(int(round(t)), int(i)) for t, i in zip(result.spikes["exc"].times, result.spikes["exc"].indices)}
    ours |= {(int(round(t)), int(i) + n_exc) for t, i in zip(result.spikes["inh"].times, result.spikes["inh"].indices)}
    assert len(spikes) > 2000  # the network is active
    assert ours == spikes
    w = built.exc_weights()
    assert not np.allclose(w, 6.0)  # the rule moved the weights
    np.testing.assert_allclose(w, w_ref, rtol=0, atol=1e-9)
    sd = np.concatenate([p.synapse_variable("sd") for p in built.plastic])
    np.testing.assert_allclose(sd, sd_ref, rtol=0, atol=1e-9)


@pytest.mark.slow  # ~5-7 s: three figures
def test_experiment_writes_figures_and_metrics(tmp_path):
    """A small network for 2 s: the figures, the CSV and the summary with its metrics."""
    out = tmp_path / "poly"
    m = run("polychronization", duration=2000.0, seed=2, out=str(out), progress=False, spectrum_s=2,
            n_exc=160, n_inh=40, out_degree=20)
    for name in ("raster.png", "weights.png", "spectrum.png", "evolution.csv", "weights.npz", "summary.json"):
        assert (out / name).stat().st_size > 0, name
    assert 0.0 <= m["frac_low"] <= 1.0 and 0.0 <= m["frac_high"] <= 1.0
    assert 20.0 <= m["peak_hz"] <= 100.0 and m["peak_hz_all"] > 0
    assert m["rate_hz"] > 0 and m["duration_s"] == 2.0 and m["spectrum_s"] == 2.0
    ev = np.loadtxt(out / "evolution.csv", delimiter=",", skiprows=1)
    assert ev.shape == (2, 6) and np.allclose(ev[:, 0], [1.0, 2.0])
    assert ev[-1, 4] == pytest.approx(m["frac_low"]) and ev[-1, 5] == pytest.approx(m["frac_high"])
    saved = json.loads((out / "summary.json").read_text())
    assert saved["peak_hz"] == m["peak_hz"]
    with np.load(out / "weights.npz") as z:
        assert z["weights"].shape == (160 * 20,) and set(np.unique(z["delays_ms"])) == set(range(1, 21))


def test_peak_frequency_and_spectrum():
    """A 40 Hz modulated rate peaks at 40 Hz; the band excludes 0 Hz."""
    t = np.arange(4000) / 1000.0
    rate = 10 + 5 * np.sin(2 * np.pi * 40 * t) + 8 * np.sin(2 * np.pi * 3 * t)
    f, p = P.rate_spectrum(rate)
    assert P.peak_frequency(f, p, (20.0, 100.0)) == pytest.approx(40.0)
    assert P.peak_frequency(f, p) == pytest.approx(3.0)
    assert math.isnan(P.peak_frequency(f, p, (500.0, 600.0)))


def test_bad_arguments():
    with pytest.raises(ValueError, match="out_degree must be a multiple of max_delay"):
        P.draw_connectivity(np.random.default_rng(0), 100, 20, out_degree=30)
    with pytest.raises(ValueError, match="spectrum_s"):
        run("polychronization", duration=1000.0, spectrum_s=0, n_exc=160, n_inh=40, out_degree=20)
