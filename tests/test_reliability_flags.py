"""On/off arguments take True or False (numpy's too), nothing else: ``stateful="False"`` or
``sort=1`` would otherwise be read as true, silently. Every flag of the public API, across
generated values."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import neurosim as ns
import neurosim.nn as snn
from neurosim.circuits import DiagonalSSM
from neurosim.events import EventStream
from neurosim.nn.nir import export_nir
from neurosim.plasticity import HebbianSubspace, ThreeFactorHebbian


def _network_connect(v):
    net = ns.Network(dt=1.0, seed=0)
    a = net.population("a", ns.LIF(2))
    return net.connect(a, a, ns.connect.all_to_all(), weight=1.0, allow_self=v)


def _network_run(v):
    net = ns.Network(dt=1.0, seed=0)
    net.population("a", ns.LIF(2))
    return net.run(1.0, progress=v)


def _events(v):
    return EventStream.from_arrays([0, 1], [0, 0], [3, 5], [0, 1], (2, 1), sort=v)


#: (flag name, call with the flag's value, whether None is allowed)
FLAGS = [
    ("allow_self", _network_connect, False),
    ("progress", _network_run, True),
    ("stateful", lambda v: snn.LIF(3, stateful=v), False),
    ("detach_reset", lambda v: snn.LIF(3, detach_reset=v), False),
    ("learn_beta", lambda v: snn.LIF(3, learn_beta=v), False),
    ("learn_threshold", lambda v: snn.LIF(3, learn_threshold=v), False),
    ("bias", lambda v: snn.RecurrentLIF(2, 3, bias=v), False),
    ("learn_beta", lambda v: snn.LI(3, learn_beta=v), False),
    ("detach_reset", lambda v: snn.Izhikevich(3, detach_reset=v), False),
    ("sort", _events, False),
    ("normalize", lambda v: ThreeFactorHebbian(3, normalize=v), False),
    ("orthonormalize", lambda v: HebbianSubspace(3, orthonormalize=v), False),
    ("normalize", lambda v: DiagonalSSM.from_eigenvalues(torch.tensor([0.5 + 0.1j]), 2, normalize=v), False),
    ("strict", lambda v: export_nir(snn.LIF(3, reset="zero"), strict=v), False),
]

VALUES = st.one_of(st.booleans(), st.sampled_from([np.True_, np.False_, None, 0, 1, "False", "true", "", 1.0, [True]]),
                   st.integers(), st.text(max_size=3))


@pytest.mark.parametrize("name, call, none_ok", FLAGS, ids=[f"{i}-{f[0]}" for i, f in enumerate(FLAGS)])
@settings(max_examples=15)
@given(value=VALUES)
def test_flags_take_only_true_or_false(name, call, none_ok, value, refuses, within):
    with within(10):
        if isinstance(value, (bool, np.bool_)) or (none_ok and value is None):
            call(value)
        else:
            with refuses(name, "True"):
                call(value)
