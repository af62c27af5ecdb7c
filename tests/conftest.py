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
        assert a.weights.keys() == b.weights.keys()
        for name in a.weights:
            np.testing.assert_array_equal(a.weights[name], b.weights[name])

    return check


# ---- reliability tests: generated inputs, each case under a timeout --------------------------
import contextlib  # noqa: E402
import signal  # noqa: E402

from hypothesis import HealthCheck, settings  # noqa: E402

# Derandomized: CI and a developer's machine try the same generated cases, so a failure
# reproduces; no deadline (a first call may compile), the per-case timeout is `within`'s.
settings.register_profile("neurosim", derandomize=True, deadline=None, database=None, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
settings.load_profile("neurosim")


class CaseTimeout(Exception):
    """A generated case ran past its time limit: a hang, as far as the test is concerned."""


@pytest.fixture
def within():
    """``with within(seconds): ...`` fails the case (CaseTimeout) if the block runs longer.

    SIGALRM interrupts Python code (and numpy between calls); a hang inside one compiled call
    is caught by pytest-timeout's whole-test limit instead."""

    @contextlib.contextmanager
    def limit(seconds: float):
        def expire(signum, frame):
            raise CaseTimeout(f"case still running after {seconds} s")

        previous = signal.signal(signal.SIGALRM, expire)
        signal.setitimer(signal.ITIMER_REAL, seconds)
        try:
            yield
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)

    return limit


@pytest.fixture
def refuses():
    """``with refuses(*words): ...``: the block must raise a clean ValueError or TypeError (or a
    neurosim error, which subclasses them) whose message contains every one of ``words``
    (case-insensitive) -- the argument or file it names, what is allowed."""

    @contextlib.contextmanager
    def check(*words):
        with pytest.raises((ValueError, TypeError)) as info:
            yield info
        message = str(info.value).lower()
        for w in words:
            assert str(w).lower() in message, f"message does not name {w!r}: {info.value}"

    return check


@pytest.fixture
def outcome(within):
    """``outcome(call, *names)``: run ``call()`` (``seconds=5`` at most); ``(True, result)``, or
    ``(False, error)`` for a clean refusal: an InsufficientMemoryError saying what is available,
    or a ValueError/TypeError whose message names one of ``names``. Anything else fails."""
    from neurosim.errors import InsufficientMemoryError

    def run(call, *names, seconds=5.0):
        try:
            with within(seconds):
                return True, call()
        except InsufficientMemoryError as err:
            assert "available" in str(err), err
            return False, err
        except (ValueError, TypeError) as err:
            message = str(err).lower()
            assert any(n.lower() in message for n in names), f"{type(err).__name__} names none of {names}: {err}"
            return False, err

    return run
