"""Deep sequence-model layers (``neurosim.circuits.ssm``): recurrent inference equals the
full-sequence forward, stability of the LRU eigenvalues, gradients, backends against the
torch reference, a small learning task, and the error messages.

Without a CUDA GPU the Triton backend runs in Triton's interpreter on CPU tensors
(``conftest.py`` sets TRITON_INTERPRET=1 before triton is imported), so it is tested, not
skipped, on every machine.
"""

import math
import subprocess
import sys

import pytest
import torch

from neurosim.circuits.ssm import (DiagonalSSM, HybridBlock, SelectiveSSM, SelectiveSSMState, SpikingSequenceModel,
                                   SpikingSequenceState)

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
FUSED = ["numba", "triton"] if DEVICE == "cpu" else ["triton"]
TOL64 = dict(rtol=1e-9, atol=1e-10)


def _x(T, B, d, seed=0, scale=1.0, dtype=torch.float64):
    return torch.randn(T, B, d, generator=torch.Generator().manual_seed(seed), dtype=dtype) * scale


def _diagonal(**kw):
    return DiagonalSSM(4, 6, r_min=0.5, r_max=0.95, seed=1, **kw).double()


def _selective(**kw):
    kw.setdefault("d_conv", 4)
    return SelectiveSSM(4, 5, expand=2, dt_rank=2, seed=2, **kw).double()


def _assert_states_close(s1, s2):
    if isinstance(s1, torch.Tensor):
        torch.testing.assert_close(s1, s2, **TOL64)
    else:
        for a, b in zip(s1, s2, strict=True):
            _assert_states_close(a, b)


# ----------------------------------------------------------------- recurrent = full sequence


@pytest.mark.parametrize("make", [_diagonal, _selective, lambda: _selective(d_conv=1)],
                         ids=["diagonal", "selective", "selective-dconv1"])
def test_step_by_step_equals_full_sequence_and_split_calls(make):
    model = make()
    x = _x(11, 3, 4)
    with torch.no_grad():
        y, state = model(x)
        # one step at a time, from no state
        s, ys = None, []
        for t in range(x.shape[0]):
            yt, s = model.step(x[t], s)
            ys.append(yt)
        torch.testing.assert_close(torch.stack(ys), y, **TOL64)
        _assert_states_close(s, state)
        # split in two forward calls (the first shorter than the conv window), passing state
        y1, s1 = model(x[:2])
        y2, s2 = model(x[2:], s1)
        torch.testing.assert_close(torch.cat([y1, y2]), y, **TOL64)
        _assert_states_close(s2, state)
        # an explicit zero initial state is the same as none
        y0, _ = model(x, model.initial_state(3, dtype=torch.float64))
        torch.testing.assert_close(y0, y, **TOL64)
    assert y.shape == x.shape and y.dtype == torch.float64


def test_state_shapes():
    d = DiagonalSSM(3, 7, seed=0)
    _, h = d(_x(5, 2, 3, dtype=torch.float32))
    assert h.shape == (2, 7) and h.dtype == torch.complex64
    s = SelectiveSSM(3, 4, expand=3, d_conv=3, seed=0)
    _, st = s(_x(5, 2, 3, dtype=torch.float32))
    assert isinstance(st, SelectiveSSMState)
    assert st.conv.shape == (2, 9, 2) and st.h.shape == (2, 9, 4)


@pytest.mark.parametrize("make", [lambda: SpikingSequenceModel(3, 8, 2, n_layers=2, seed=0).double(),
                                  lambda: HybridBlock(3, 5, d_hidden=8, seed=0).double()], ids=["spiking", "hybrid"])
def test_spiking_models_carry_state_across_split_calls(make):
    model = make()
    x = _x(12, 2, 3, scale=3.0)
    with torch.no_grad():
        y, state = model(x)
        y1, s1 = model(x[:5])
        y2, s2 = model(x[5:], s1)
    torch.testing.assert_close(torch.cat([y1, y2]), y, **TOL64)
    _assert_states_close(s2, state)


def test_spiking_sequence_model_output_and_state():
    model = SpikingSequenceModel(3, 8, 2, n_layers=3, seed=0)
    y, state = model(_x(6, 4, 3, dtype=torch.float32, scale=3.0))
    assert y.shape == (6, 4, 2)
    assert isinstance(state, SpikingSequenceState) and len(state.layers) == 3
    assert state.layers[0].v.shape == (4, 8) and state.readout.v.shape == (4, 2)


# ----------------------------------------------------------------- stability of the LRU


def test_diagonal_initial_eigenvalues_lie_on_the_ring():
    model = DiagonalSSM(2, 400, r_min=0.4, r_max=0.9, max_phase=math.pi / 4, seed=0)
    lam = model.eigenvalues().detach().to(torch.complex128)
    mag, phase = lam.abs(), torch.angle(lam)
    assert mag.min() >= 0.4 - 1e-6 and mag.max() <= 0.9 + 1e-6
    assert mag.min() < 0.45 and mag.max() > 0.85  # spread over the ring, not a point
    assert phase.min() >= 0 and phase.max() <= math.pi / 4 + 1e-6
    # γ normalises the input so a mode's stationary variance does not blow up near |λ| = 1
    torch.testing.assert_close(model.gamma_log.exp().double(), torch.sqrt(1 - mag ** 2), rtol=1e-5, atol=1e-6)


def test_diagonal_eigenvalues_stay_stable_under_a_large_learning_rate():
    model = DiagonalSSM(3, 16, r_min=0.9, r_max=0.999, seed=0)
    opt = torch.optim.Adam(model.parameters(), lr=1.0)
    x = _x(20, 2, 3, dtype=torch.float32)
    for _ in range(25):
        y, _ = model(x)
        # push every mode towards |λ| = 1 as hard as possible, plus a task-like term
        loss = -model.eigenvalues().abs().sum() + (y ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    mag = model.eigenvalues().detach().abs()
    assert bool(torch.isfinite(mag).all()) and float(mag.max()) < 1.0
    assert float(mag.max()) > 0.9999  # it did get pushed to the edge
    # a long constant drive stays bounded
    y, h = model(torch.ones(2000, 1, 3))
    assert bool(torch.isfinite(y).all()) and bool(torch.isfinite(h).all())


def test_from_eigenvalues_round_trip_and_rejects_unstable_ones():
    lam = torch.tensor([0.5 + 0.5j, -0.9 + 0j, 0.99 + 0j, 0.3 * complex(math.cos(2.0), -math.sin(2.0))],
                       dtype=torch.complex128)
    model = DiagonalSSM.from_eigenvalues(lam, 3, seed=0).double()
    assert model.d_state == 4
    # the parameters are stored in torch's default dtype (float32): round trip to its precision
    torch.testing.assert_close(model.eigenvalues(), lam, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(model.gamma_log.exp(), torch.sqrt(1 - lam.abs() ** 2), rtol=1e-6, atol=1e-6)
    unnormalised = DiagonalSSM.from_eigenvalues([0.5, 0.2], 3, normalize=False)
    assert torch.equal(unnormalised.gamma_log, torch.zeros(2))
    for bad in ([0.5, 1.0], [0.5, 1j], [0.6 + 0.8j], [0.5, -1.5]):
        with pytest.raises(ValueError, match=r"\|λ\| < 1"):
            DiagonalSSM.from_eigenvalues(bad, 3)
    with pytest.raises(ValueError, match=r"\|λ\| > 0"):
        DiagonalSSM.from_eigenvalues([0.5, 0.0], 3)
    with pytest.raises(ValueError, match="finite"):
        DiagonalSSM.from_eigenvalues([0.5, float("nan")], 3)


@pytest.mark.parametrize("r_min, r_max", [(0.5, 0.5), (0.9, 0.1), (-0.1, 0.5), (0.2, 1.0), (0.2, 1.5)])
def test_bad_ring_raises(r_min, r_max):
    with pytest.raises(ValueError, match=r"r_min and r_max .* 0 <= r_min < r_max < 1"):
        DiagonalSSM(4, r_min=r_min, r_max=r_max)


def test_non_finite_parameters_are_reported():
    model = DiagonalSSM(3, 4, seed=0)
    with torch.no_grad():
        model.nu_log[2] = float("nan")
    with pytest.raises(ValueError, match="nu_log / theta_log are not finite"):
        model(_x(4, 1, 3, dtype=torch.float32))


def test_nan_input_names_the_time_step():
    x = _x(8, 2, 4)
    x[5, 1, 2] = float("nan")
    for model in (_diagonal(), _selective()):
        with pytest.raises(ValueError, match="x contains NaN or inf \\(first at time step 5\\)"):
            model(x)


# ----------------------------------------------------------------- gradients


@pytest.mark.parametrize("make", [
    lambda: DiagonalSSM(3, 5, seed=0),
    lambda: SelectiveSSM(3, 4, expand=2, seed=0),
    lambda: SpikingSequenceModel(3, 8, 2, n_layers=2, seed=0),
    lambda: HybridBlock(3, 5, d_hidden=8, seed=0),
], ids=["diagonal", "selective", "spiking", "hybrid"])
def test_gradients_reach_every_parameter(make):
    model = make()
    x = _x(16, 4, 3, dtype=torch.float32, scale=3.0).requires_grad_()
    y, _ = model(x)
    (y ** 2).mean().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None, name
        assert bool(torch.isfinite(p.grad).all()), name
        assert float(p.grad.abs().sum()) > 0, name
    assert x.grad is not None and float(x.grad.abs().sum()) > 0


def _outputs_and_grads(model, x, backend, device):
    model = model.to(device)
    for m in model.modules():
        if hasattr(m, "backend"):
            m.backend = backend
    x = x.to(device).requires_grad_()
    y, state = model(x)
    h = state if isinstance(state, torch.Tensor) else state.h
    loss = (y * torch.linspace(-1, 1, y.shape[-1], dtype=y.dtype, device=device)).sum() + h.abs().sum()
    names = [n for n, _ in model.named_parameters()]
    grads = torch.autograd.grad(loss, [x, *model.parameters()])
    return y.detach().cpu(), dict(zip(["x", *names], (g.cpu() for g in grads)))


@pytest.mark.parametrize("backend", FUSED)
@pytest.mark.parametrize("make", [_diagonal, _selective], ids=["diagonal", "selective"])
def test_fused_backends_match_the_reference(make, backend):
    x = _x(9, 2, 4)
    y_ref, g_ref = _outputs_and_grads(make(), x, "reference", DEVICE)
    y, g = _outputs_and_grads(make(), x, backend, DEVICE)
    torch.testing.assert_close(y, y_ref, **TOL64)
    assert g.keys() == g_ref.keys()
    for name in g_ref:
        torch.testing.assert_close(g[name], g_ref[name], **TOL64, msg=lambda m, name=name: f"{name}: {m}")


# ----------------------------------------------------------------- learning


def test_diagonal_ssm_learns_a_delay_line():
    """y[t] = x[t - 3] from white noise: needs memory, not just the skip term; at init the error
    is about the target's variance (1)."""
    delay = 3
    g = torch.Generator().manual_seed(0)
    model = DiagonalSSM(1, 16, r_min=0.5, r_max=0.95, seed=0)
    opt = torch.optim.Adam(model.parameters(), lr=2e-2)

    def loss_on(x):
        y, _ = model(x)
        return ((y[delay:] - x[:-delay]) ** 2).mean()

    test_x = torch.randn(48, 32, 1, generator=g)
    with torch.no_grad():
        initial = float(loss_on(test_x))
    for _ in range(200):
        loss = loss_on(torch.randn(32, 16, 1, generator=g))
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        final = float(loss_on(test_x))
    assert initial > 0.5
    assert final < 0.01, (initial, final)


# ----------------------------------------------------------------- errors and bookkeeping


@pytest.mark.parametrize("make", [lambda: DiagonalSSM(4, 3), lambda: SelectiveSSM(4, 3),
                                  lambda: SpikingSequenceModel(4, 5, 2), lambda: HybridBlock(4, 3)],
                         ids=["diagonal", "selective", "spiking", "hybrid"])
def test_bad_inputs_raise_naming_x(make):
    model = make()
    with pytest.raises(ValueError, match=r"x must have shape \[T, batch, d_\w+=4\]"):
        model(torch.zeros(5, 4))
    with pytest.raises(ValueError, match=r"x must have shape .* got \(5, 2, 3\)"):
        model(torch.zeros(5, 2, 3))
    with pytest.raises(TypeError, match="x must be a floating-point tensor"):
        model(torch.zeros(5, 2, 4, dtype=torch.int64))
    with pytest.raises(TypeError, match="x must be a torch.Tensor"):
        model([[[0.0] * 4]])
    with pytest.raises(ValueError, match="at least one time step"):
        model(torch.zeros(0, 2, 4))


def test_bad_step_input_and_state_raise():
    d, s = DiagonalSSM(4, 3), SelectiveSSM(4, 3)
    with pytest.raises(ValueError, match=r"x_t must have shape \[batch, d_model=4\]"):
        d.step(torch.zeros(1, 2, 4))
    with pytest.raises(TypeError, match="x_t must be a floating-point tensor"):
        s.step(torch.zeros(2, 4, dtype=torch.int32))
    with pytest.raises(ValueError, match=r"state must have shape \[batch, d_state\]"):
        d(torch.zeros(5, 2, 4), torch.zeros(3, 3, dtype=torch.complex64))
    with pytest.raises(ValueError, match=r"state.conv must have shape \[batch, E, d_conv-1\]"):
        s(torch.zeros(5, 2, 4), s.initial_state(3))
    with pytest.raises(TypeError, match="SelectiveSSMState"):
        s(torch.zeros(5, 2, 4), torch.zeros(2, 8, 3))


@pytest.mark.parametrize("call, match", [
    (lambda: DiagonalSSM(0), "d_model must be a positive int"),
    (lambda: DiagonalSSM(4, d_state=-2), "d_state must be a positive int"),
    (lambda: DiagonalSSM(4.5), "d_model must be a positive int"),
    (lambda: DiagonalSSM(4, max_phase=0.0), "max_phase"),
    (lambda: DiagonalSSM(4, backend="cuda"), "backend must be one of"),
    (lambda: SelectiveSSM(4, expand=0), "expand must be a positive int"),
    (lambda: SelectiveSSM(4, d_conv=0), "d_conv must be a positive int"),
    (lambda: SelectiveSSM(4, dt_rank=0), "dt_rank must be a positive int"),
    (lambda: SelectiveSSM(4, dt_min=0.1, dt_max=0.01), "0 < dt_min < dt_max"),
    (lambda: SelectiveSSM(4, backend="gpu"), "backend must be one of"),
    (lambda: SpikingSequenceModel(4, 0, 2), "d_hidden must be a positive int"),
    (lambda: SpikingSequenceModel(4, 5, 2, n_layers=0), "n_layers must be a positive int"),
    (lambda: HybridBlock(4, d_hidden=-1), "d_hidden must be a positive int"),
    (lambda: HybridBlock(4, backend="fast"), "backend must be one of"),
])
def test_bad_constructor_arguments_raise_value_error(call, match):
    with pytest.raises((ValueError, TypeError), match=match):  # TypeError for a size that is no int
        call()


def test_seed_is_reproducible_and_leaves_the_global_generator_alone():
    torch.manual_seed(123)
    before = torch.random.get_rng_state()
    for cls in (DiagonalSSM, SelectiveSSM):
        a, b = cls(4, 3, seed=7), cls(4, 3, seed=7)
        for (name, p), q in zip(a.named_parameters(), b.parameters(), strict=True):
            assert torch.equal(p, q), name
    assert torch.equal(torch.random.get_rng_state(), before)
    with pytest.raises(TypeError, match="seed must be an int"):
        DiagonalSSM(4, seed=1.5)


def test_parameter_counts():
    def count(m):
        return sum(p.numel() for p in m.parameters())

    d, n = 64, 64
    assert count(DiagonalSSM(d, n)) == 4 * d * n + 3 * n + d == 16640
    d, n, e, r, k = 64, 16, 128, 4, 4
    assert count(SelectiveSSM(d, n)) == 3 * d * e + e * (k + 2 * r + 3 * n + 3) == 32640


def test_selective_initialisation():
    model = SelectiveSSM(32, 6, dt_min=1e-3, dt_max=1e-1, seed=0)
    assert model.dt_rank == 2 and model.d_inner == 64
    dt = torch.nn.functional.softplus(model.dt_proj.bias.detach().double())
    assert dt.min() >= 1e-3 * (1 - 1e-5) and dt.max() <= 1e-1 * (1 + 1e-5)
    torch.testing.assert_close(-model.A_log.exp(), -torch.arange(1.0, 7.0).expand(64, 6))


def test_circuits_exports_the_models_without_importing_torch_eagerly():
    import neurosim.circuits as circuits

    assert circuits.DiagonalSSM is DiagonalSSM and circuits.HybridBlock is HybridBlock
    code = "import sys, neurosim.circuits; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)
