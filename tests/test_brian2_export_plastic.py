"""Plastic projections exported to Brian2 (``neurosim.brian2_export.to_brian2``) run the same
rules: given the same spike trains, Brian2 (numpy target, statements as written) reproduces
neurosim's spikes and every synapse variable."""

import numpy as np
import pytest

import neurosim as ns
from neurosim.brian2_export import to_brian2
from neurosim.plasticity import STDP, TsodyksMarkram
from neurosim.plasticity.synapses import izhikevich_stdp_model

b2 = pytest.importorskip("brian2")
pytestmark = pytest.mark.brian2

PERIODIC = izhikevich_stdp_model(5.0)  # the Izhikevich (2006) rule, its update every 5 ms


def network():
    net = ns.Network(dt=0.1, seed=2)
    rng = np.random.default_rng(0)
    steps, idx = np.rint(rng.uniform(0, 100, 600) / 0.1).astype(int), rng.integers(0, 40, 600)
    keys = np.unique(steps * 40 + idx)  # Brian2's SpikeGeneratorGroup takes one spike per neuron and step
    src = net.population("src", ns.SpikeTimes(40, indices=keys % 40, times=(keys // 40) * 0.1))
    lif = net.population("lif", ns.LIF(6, v_init=ns.Uniform(-65.0, -52.0)))
    izh = net.population("izh", ns.Izhikevich.regular_spiking(4))
    net.connect(src, lif, ns.connect.all_to_all(), weight=ns.Uniform(1.0, 4.0), delay=ns.Uniform(0.1, 2.0),
                synapse=STDP(w_max=4.0, a_pre=0.2, a_post=-0.21))
    net.connect(src, izh, ns.connect.all_to_all(), weight=ns.Uniform(1.0, 5.0), synapse=PERIODIC())
    net.connect(lif, lif, ns.connect.all_to_all(), weight=3.0, synapse=TsodyksMarkram(U=0.4, tau_rec=50.0, tau_facil=80.0))
    net.add_current(izh, ns.ConstantCurrent(5.0))
    return net


@pytest.mark.slow
def test_exported_plastic_synapses_give_neurosims_spikes_and_synapse_state():
    b2.prefs.codegen.target = "numpy"
    b2.prefs.codegen.loop_invariant_optimisations = False
    duration = 97.3  # not a multiple of the period: see to_brian2 on a run ending with a period
    b2net, monitors = to_brian2(network())
    b2net.run(duration * b2.ms)
    ours = network()
    result = ours.run(duration, progress=False)
    for name in ("lif", "izh"):
        theirs = np.sort(np.rint(np.asarray(monitors[name].t / b2.ms) / 0.1).astype(int))
        np.testing.assert_array_equal(theirs, np.sort(np.rint(result.spikes[name].times / 0.1).astype(int)))
    assert result.spike_count("lif") > 30 and result.spike_count("izh") > 3
    start = network().projections
    for k, proj in enumerate(ours.projections):
        syn = b2net[f"ns_projection_{k}"]
        d = proj.synapse.definition
        assert any(not np.array_equal(proj.synapse_variable(v), start[k].synapse_variable(v)) for v in d.state)
        for var in proj.synapse.definition.state:
            ours_values, theirs = proj.synapse_variable(var), np.asarray(getattr(syn, f"{var}_ns"))
            scale = max(np.abs(ours_values).max(), 1e-12)
            assert np.abs(ours_values - theirs).max() <= 1e-9 * scale, (proj.name, var)
