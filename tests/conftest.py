"""Test-session set-up.

Triton kernels are tested on every machine: without a CUDA GPU they run in Triton's
interpreter on CPU tensors, which must be switched on before triton is first imported.
"""

import os

import pytest


def _has_cuda() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return torch.cuda.is_available()


if not _has_cuda():
    os.environ.setdefault("TRITON_INTERPRET", "1")


@pytest.fixture
def assert_same_run():
    """``check(a, b)``: two RunResults hold the same steps, spikes, counts and state traces, exactly."""
    import numpy as np

    def check(a, b):
        assert a.n_steps == b.n_steps and a.t_start == b.t_start
        assert a.spikes.keys() == b.spikes.keys()
        for name in a.spikes:
            np.testing.assert_array_equal(a.spikes[name].times, b.spikes[name].times)
            np.testing.assert_array_equal(a.spikes[name].indices, b.spikes[name].indices)
        np.testing.assert_array_equal(a.counts, b.counts)
        assert a.states.keys() == b.states.keys()
        for key in a.states:
            np.testing.assert_array_equal(a.states[key].times, b.states[key].times)
            np.testing.assert_array_equal(a.states[key].values, b.states[key].values)

    return check
