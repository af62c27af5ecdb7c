r"""Deep sequence-model layers: diagonal and selective state-space models, and spiking stacks.

All layers are ``torch.nn.Module``\ s over time-major sequences ``x [T, B, d]`` (``T`` steps,
``B`` batch) that return ``(y, state)``; pass ``state`` into the next call to continue a
sequence. Every linear recurrence runs through one call of
:func:`neurosim.kernels.scan.linear_scan` (``h[t] = a[t] h[t-1] + b[t]``; Numba on CPU,
Triton on CUDA, a torch loop as ``backend="reference"``), forward and backward; on CPU,
:class:`SelectiveSSM`'s goes through the fused :func:`neurosim.kernels.selective.selective_scan`
(the same recurrence, without ``[T, B, E, N]`` intermediates). dtype follows
the input (float32 or float64; complex states are complex64 / complex128); parameters are
stored in torch's default dtype and cast to the input's in the forward pass. Time is in steps.

:class:`DiagonalSSM` — the Linear Recurrent Unit (LRU) of Orvieto et al. (2023),
"Resurrecting recurrent neural networks for long sequences" (ICML). A complex diagonal
linear recurrence with ``N = d_state`` modes::

    λ = exp(-exp(nu_log) + i exp(theta_log))          [N], so 0 < |λ| < 1 always
    γ = exp(gamma_log)                                 [N], init sqrt(1 - |λ|²)
    h[t] = λ ⊙ h[t-1] + γ ⊙ (B x[t])                   h [B, N] complex, B [N, d] complex
    y[t] = Re(C h[t]) + D ⊙ x[t]                       C [d, N] complex, D [d] real

The magnitudes are drawn uniformly on the ring ``r_min <= |λ| <= r_max`` (uniform in the
area of the ring, as in the paper) and the phases uniformly in ``[0, max_phase]``.
``|λ| < 1`` is a property of the parameterisation, not a constraint to enforce: whatever the
optimiser does to ``nu_log``, ``|λ| = exp(-exp(nu_log))`` stays below one (a floor
``exp(nu_log) >= 1e-6`` keeps it so after rounding, in float32 too).

:class:`SelectiveSSM` — the Mamba block of Gu & Dao (2023), "Mamba: linear-time sequence
modeling with selective state spaces". With ``E = expand * d_model``, ``N = d_state`` and
``R = dt_rank``::

    (u, z) = in_proj(x[t])                              [B, E] each
    u'     = SiLU(causal depthwise conv of u over the last d_conv steps)
    (δ, B_t, C_t) = x_proj(u')                          [B, R], [B, N], [B, N]
    Δ[t]   = softplus(dt_proj(δ))                       [B, E], init in [dt_min, dt_max]
    A      = -exp(A_log)                                [E, N], init -(1, 2, ..., N) (S4D-real)
    h[t]   = exp(Δ[t] ⊗ A) ⊙ h[t-1] + (Δ[t] ⊙ u'[t]) ⊗ B_t        h [B, E, N] real
    y[t]   = out_proj(((h[t] · C_t) + D ⊙ u'[t]) ⊙ SiLU(z))        (h · C_t sums over N)

The state is ``SelectiveSSMState(conv [B, E, d_conv-1], h [B, E, N])`` (the last
``d_conv - 1`` conv inputs and the scan state), so the full-sequence forward, split forwards
and ``step`` one step at a time all give the same output.

:class:`SpikingSequenceModel` — stacked :class:`neurosim.nn.RecurrentLIF` layers (surrogate
gradients) read out by a ``Linear`` into a leaky integrator :class:`neurosim.nn.LI`; the
output is the integrator's membrane ``[T, B, d_out]``.

:class:`HybridBlock` — a DiagonalSSM mixer followed by a spiking channel, with a residual::

    m = DiagonalSSM(LayerNorm(x));  s = LIF(W_in m);  y = x + W_out s

so blocks stack like transformer blocks while all inter-step communication after the mixer
is binary spikes.

::

    from neurosim.circuits import DiagonalSSM, SelectiveSSM
    ssm = DiagonalSSM(64, d_state=64, r_min=0.9, r_max=0.999, seed=0)
    y, h = ssm(x)                      # x [T, B, 64] -> y [T, B, 64], h [B, 64] complex
    y2, h = ssm(x2, h)                 # continue the sequence
    yt, h = ssm.step(x2[0], h)         # one step (recurrent inference)
    sum(p.numel() for p in ssm.parameters())   # 4 d N + 3 N + d = 16640

Parameter counts (``d = d_model``): DiagonalSSM ``4 d N + 3 N + d``; SelectiveSSM
``3 d E + E (d_conv + 2 R + 3 N + 3)`` (``E = expand d``); see each class.
"""

from __future__ import annotations

import contextlib
import math
from typing import NamedTuple

import torch
from torch import nn
from torch.nn import functional as F

from neurosim.kernels.scan import BACKENDS, linear_scan
from neurosim.kernels.selective import selective_scan
from neurosim.memory import check_memory
from neurosim.nn.functional import check_tensor
from neurosim.nn.layers import LI, LIF, LIFState, RecurrentLIF, check_finite_result, check_size
from neurosim.validation import check_flag, check_int, check_number

__all__ = ["DiagonalSSM", "SelectiveSSM", "SelectiveSSMState", "SpikingSequenceModel", "SpikingSequenceState",
           "HybridBlock", "HybridState"]

#: Floor on ``exp(nu_log)`` (the decay rate per step): keeps ``|λ| <= exp(-1e-6) < 1`` after rounding,
#: in float32 too (a time constant of up to a million steps).
NU_MIN = 1e-6
#: Smallest phase ``exp(theta_log)`` set for a real positive eigenvalue (``log 0`` is not a parameter).
THETA_MIN = 1e-12


# --------------------------------------------------------------------------- shared checks


def _check_dtype(dtype) -> torch.dtype:
    if not (isinstance(dtype, torch.dtype) and dtype in (torch.float32, torch.float64)):
        raise TypeError(f"dtype must be torch.float32 or torch.float64, got {dtype!r:.40}")
    return dtype


def _check_backend(backend) -> str:
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    return backend


@contextlib.contextmanager
def _seeded(seed):
    """Parameter initialisation from ``seed`` without touching torch's global generator
    (``seed=None``: torch's global generator, as every ``nn.Module``)."""
    if seed is None:
        yield
        return
    seed = check_int("seed", seed, minimum=0)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def _check_tensor(name: str, x, shape_text: str, n_dims: int, n_features: int) -> None:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor {shape_text}, got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor (float32 or float64), got {x.dtype}")
    if x.dim() != n_dims or x.shape[-1] != n_features:
        raise ValueError(f"{name} must have shape {shape_text}, got {tuple(x.shape)}")


def _check_sequence(x, n_features: int, feature_name: str) -> None:
    """``x`` must be a floating time-major ``[T, B, n_features]`` tensor with T >= 1."""
    _check_tensor("x", x, f"[T, batch, {feature_name}={n_features}] (time-major)", 3, n_features)
    if x.shape[0] == 0 or x.shape[1] == 0:
        raise ValueError(f"x must have at least one time step and one sequence, got shape {tuple(x.shape)}")


def _check_finite(name: str, x: torch.Tensor, last: torch.Tensor, given) -> None:
    """NaN/inf in ``x`` or in the state passed in (``given``) reaches the final state; see
    :func:`neurosim.nn.layers.check_finite_result`."""
    check_finite_result(name, x, last, given, input_name="x", what="hidden state")


def _check_parameters(what: str, count: float) -> None:
    """Refuse up front ``count`` parameters the machine cannot hold: they are drawn in float64
    and cast to torch's default dtype (both at once for a moment)."""
    check_memory(f"{what} ({count:.3g} parameters)", count * (8 + torch.get_default_dtype().itemsize),
                 "use a smaller d_model / d_state")


def _linear(x: torch.Tensor, layer: nn.Linear) -> torch.Tensor:
    """``layer(x)`` with the layer's parameters cast to ``x``'s dtype (dtype follows the input)."""
    bias = None if layer.bias is None else layer.bias.to(x.dtype)
    return F.linear(x, layer.weight.to(x.dtype), bias)


def _complex_dtype(dtype: torch.dtype) -> torch.dtype:
    return torch.complex128 if dtype == torch.float64 else torch.complex64


# --------------------------------------------------------------------------- DiagonalSSM


class DiagonalSSM(nn.Module):
    """LRU-style complex diagonal state-space layer (Orvieto et al. 2023); see the module docstring.

    Parameters
    ----------
    d_model : input and output features ``d``.
    d_state : complex modes ``N``.
    r_min, r_max : the eigenvalue magnitudes are initialised uniformly on the ring
        ``r_min <= |λ| <= r_max``; ``0 <= r_min < r_max < 1``. Close to 1 = long memory
        (``|λ| = exp(-1/τ)`` for a time constant of ``τ`` steps).
    max_phase : phases initialised uniformly in ``[0, max_phase]`` radians (> 0).
    backend : scan backend, ``"auto"`` (Numba on CPU, Triton on CUDA), ``"numba"``,
        ``"triton"``, ``"reference"`` or ``"torch"`` (see :func:`~neurosim.kernels.scan.linear_scan`).
    seed : int seed of the initialisation (``None``: torch's global generator).

    Parameters (``nn.Parameter``): ``nu_log, theta_log, gamma_log [N]``, ``B_re, B_im [N, d]``
    (init ``N(0, 1/(2d))``), ``C_re, C_im [d, N]`` (init ``N(0, 1/N)``), ``D [d]`` (init
    ``N(0, 1)``): ``4 d N + 3 N + d`` numbers (16640 for ``DiagonalSSM(64, 64)``).

    ``forward(x [T, B, d], state=None) -> (y [T, B, d], h [B, N] complex)``;
    ``step(x_t [B, d], state=None) -> (y_t [B, d], h [B, N])``.
    """

    def __init__(self, d_model: int, d_state: int = 64, *, r_min: float = 0.0, r_max: float = 0.99,
                 max_phase: float = 2 * math.pi, backend: str = "auto", seed: int | None = None):
        super().__init__()
        self.d_model = check_size("d_model", d_model)
        self.d_state = check_size("d_state", d_state)
        _check_parameters(f"DiagonalSSM({self.d_model}, {self.d_state})",
                          4.0 * self.d_model * self.d_state + 3 * self.d_state + self.d_model)
        r_min, r_max = check_number("r_min", r_min), check_number("r_max", r_max)
        if not 0.0 <= r_min < r_max < 1.0:
            raise ValueError("r_min and r_max (the ring of initial eigenvalue magnitudes |λ|) must satisfy "
                             f"0 <= r_min < r_max < 1, got r_min={r_min}, r_max={r_max}")
        max_phase = check_number("max_phase", max_phase, positive=True)
        self.backend = _check_backend(backend)
        self.r_min, self.r_max, self.max_phase = r_min, r_max, max_phase
        n, d, f64 = self.d_state, self.d_model, torch.float64
        with _seeded(seed):
            u1, u2 = torch.rand(n, dtype=f64), torch.rand(n, dtype=f64)
            # uniform on the ring's area: |λ|² uniform in [r_min², r_max²]
            mag2 = (u1 * (r_max ** 2 - r_min ** 2) + r_min ** 2).clamp_min(1e-12)
            nu_log = torch.log(-0.5 * torch.log(mag2)).clamp_min(math.log(NU_MIN))
            theta_log = torch.log((max_phase * u2).clamp_min(THETA_MIN))
            gamma_log = 0.5 * torch.log1p(-torch.exp(-2 * nu_log.exp()))
            b_scale, c_scale = 1 / math.sqrt(2 * d), 1 / math.sqrt(n)
            b_re, b_im = torch.randn(n, d, dtype=f64) * b_scale, torch.randn(n, d, dtype=f64) * b_scale
            c_re, c_im = torch.randn(d, n, dtype=f64) * c_scale, torch.randn(d, n, dtype=f64) * c_scale
            skip = torch.randn(d, dtype=f64)
        dtype = torch.get_default_dtype()
        for name, value in (("nu_log", nu_log), ("theta_log", theta_log), ("gamma_log", gamma_log),
                            ("B_re", b_re), ("B_im", b_im), ("C_re", c_re), ("C_im", c_im), ("D", skip)):
            self.register_parameter(name, nn.Parameter(value.to(dtype)))

    @classmethod
    def from_eigenvalues(cls, eigenvalues, d_model: int, *, normalize: bool = True, **kw) -> "DiagonalSSM":
        """A DiagonalSSM with the given complex eigenvalues ``λ [N]`` (``N = d_state``).

        Every eigenvalue must satisfy ``0 < |λ| < 1`` (the layer promises stability; the largest
        representable magnitude is ``exp(-1e-6)``). ``normalize``: ``γ = sqrt(1 - |λ|²)`` (else
        ``γ = 1``). Other keywords (``backend``, ``seed``) as the constructor; B, C, D are drawn
        as there.
        """
        normalize = check_flag("normalize", normalize)
        if isinstance(eigenvalues, (str, bytes)):
            raise TypeError(f"eigenvalues must be an array of numbers, got {type(eigenvalues).__name__}")
        try:
            lam = torch.as_tensor(eigenvalues)
        except (TypeError, ValueError, RuntimeError):
            raise TypeError(f"eigenvalues must be an array of numbers, got {type(eigenvalues).__name__}") from None
        if lam.dtype == torch.bool:
            raise TypeError("eigenvalues must be numbers, got booleans")
        lam = lam.to(torch.complex128)
        if lam.dim() != 1 or lam.numel() == 0:
            raise ValueError(f"eigenvalues must be a non-empty 1-D array [d_state], got shape {tuple(lam.shape)}")
        if not bool(torch.isfinite(lam).all()):
            raise ValueError("eigenvalues must be finite, got NaN or inf")
        mag = lam.abs()
        worst = int(torch.argmax(mag))
        if bool((mag >= 1).any()):
            raise ValueError(f"eigenvalues must satisfy |λ| < 1 (a stable recurrence), got |λ| = "
                             f"{float(mag[worst]):.6g} at index {worst}")
        if bool((mag > math.exp(-NU_MIN)).any()):
            raise ValueError(f"eigenvalues must satisfy |λ| <= exp(-{NU_MIN:g}) (the largest magnitude the "
                             f"layer represents), got |λ| = {float(mag[worst]):.10g} at index {worst}")
        if bool((mag == 0).any()):
            raise ValueError(f"eigenvalues must satisfy |λ| > 0, got |λ| = 0 at index {int(torch.argmin(mag))}")
        model = cls(d_model, d_state=lam.numel(), **kw)
        nu = -torch.log(mag)
        theta = torch.remainder(torch.angle(lam), 2 * math.pi).clamp_min(THETA_MIN)
        gamma_log = 0.5 * torch.log1p(-mag ** 2) if normalize else torch.zeros_like(nu)
        with torch.no_grad():
            model.nu_log.copy_(torch.log(nu))
            model.theta_log.copy_(torch.log(theta))
            model.gamma_log.copy_(gamma_log)
        return model

    def eigenvalues(self, dtype: torch.dtype | None = None) -> torch.Tensor:
        """``λ [N]`` (complex; ``dtype`` is the real dtype to compute in, default the parameters').
        Differentiable; raises ValueError if the parameters that make it are not finite."""
        dtype = dtype or self.nu_log.dtype
        nu = self.nu_log.to(dtype).exp().clamp_min(NU_MIN)
        lam = torch.exp(torch.complex(-nu, self.theta_log.to(dtype).exp()))
        if not bool(torch.isfinite(lam).all()):
            raise ValueError("DiagonalSSM: the eigenvalues λ are NaN or inf because the parameters nu_log / "
                             "theta_log are not finite (has the training diverged?)")
        return lam

    def _dynamics(self, dtype: torch.dtype):
        """λ [N], γ-scaled B (re, im) [N, d], C (re, im) [d, N], D [d], in the real ``dtype``."""
        lam = self.eigenvalues(dtype)
        gamma = self.gamma_log.to(dtype).exp().unsqueeze(1)
        return (lam, gamma * self.B_re.to(dtype), gamma * self.B_im.to(dtype), self.C_re.to(dtype),
                self.C_im.to(dtype), self.D.to(dtype))

    def _start(self, state, x: torch.Tensor) -> torch.Tensor | None:
        if state is None:
            return None
        state = check_tensor("state", state, (x.shape[-2], self.d_state), x, axes=("batch", "d_state"), cast=True,
                             complex_ok=True)
        return state.to(_complex_dtype(x.dtype))

    def initial_state(self, batch: int, device=None, dtype: torch.dtype | None = None) -> torch.Tensor:
        """Zero state ``[batch, d_state]``, complex (of ``dtype``, default the parameters' real dtype)."""
        batch = check_size("batch", batch)
        return torch.zeros(batch, self.d_state, dtype=_complex_dtype(_check_dtype(dtype or self.nu_log.dtype)),
                           device=device)

    def forward(self, x: torch.Tensor, state: torch.Tensor | None = None):
        """``x [T, B, d_model]`` -> ``(y [T, B, d_model], h [B, d_state] complex)`` (last state)."""
        _check_sequence(x, self.d_model, "d_model")
        h0 = self._start(state, x)
        lam, b_re, b_im, c_re, c_im, skip = self._dynamics(x.dtype)
        bu = torch.complex(F.linear(x, b_re), F.linear(x, b_im))  # γ ⊙ (B x)  [T, B, N]
        h = linear_scan(lam, bu, h0, backend=self.backend)
        y = F.linear(h.real, c_re) - F.linear(h.imag, c_im) + skip * x  # Re(C h) + D x
        _check_finite(type(self).__name__, x, h[-1], h0)
        return y, h[-1]

    def step(self, x_t: torch.Tensor, state: torch.Tensor | None = None):
        """One step, ``x_t [B, d_model]`` -> ``(y_t [B, d_model], h [B, d_state])``: the recurrence
        written out (no scan), for recurrent inference."""
        _check_tensor("x_t", x_t, f"[batch, d_model={self.d_model}]", 2, self.d_model)
        h0 = self._start(state, x_t)
        lam, b_re, b_im, c_re, c_im, skip = self._dynamics(x_t.dtype)
        bu = torch.complex(F.linear(x_t, b_re), F.linear(x_t, b_im))
        h = bu if h0 is None else lam * h0 + bu
        _check_finite(type(self).__name__, x_t[None], h, h0)
        return F.linear(h.real, c_re) - F.linear(h.imag, c_im) + skip * x_t, h

    def extra_repr(self) -> str:
        return (f"d_model={self.d_model}, d_state={self.d_state}, r_min={self.r_min:g}, r_max={self.r_max:g}, "
                f"backend={self.backend!r}")


# --------------------------------------------------------------------------- SelectiveSSM


class SelectiveSSMState(NamedTuple):
    """The last ``d_conv - 1`` conv inputs ``conv [B, E, d_conv-1]`` and the scan state ``h [B, E, N]``."""

    conv: torch.Tensor
    h: torch.Tensor


class SelectiveSSM(nn.Module):
    """Mamba-style selective state-space block (Gu & Dao 2023); see the module docstring.

    Parameters
    ----------
    d_model : input and output features ``d``.
    d_state : state size ``N`` per channel.
    expand : inner width ``E = expand * d_model``.
    d_conv : width of the causal depthwise convolution over time (>= 1).
    dt_rank : rank ``R`` of the step-size projection; ``"auto"`` = ``ceil(d_model / 16)``.
    dt_min, dt_max : initial step sizes ``Δ = softplus(dt_proj bias)`` are log-uniform in
        ``[dt_min, dt_max]`` (``0 < dt_min < dt_max``).
    backend, seed : as :class:`DiagonalSSM`.

    Modules and parameters: ``in_proj`` Linear(d, 2E, no bias), ``conv`` depthwise Conv1d
    (E weights of width d_conv, bias), ``x_proj`` Linear(E, R + 2N, no bias), ``dt_proj``
    Linear(R, E), ``A_log [E, N]``, ``D [E]``, ``out_proj`` Linear(E, d, no bias):
    ``3 d E + E (d_conv + 2 R + 3 N + 3)`` numbers (32640 for ``SelectiveSSM(64)``).

    ``forward(x [T, B, d], state=None) -> (y [T, B, d], SelectiveSSMState)``;
    ``step(x_t [B, d], state=None) -> (y_t [B, d], SelectiveSSMState)``. The
    recurrence runs in :func:`neurosim.kernels.selective.selective_scan`: on CPU one fused
    Numba kernel that never forms the ``[T, B, E, N]`` decays, drives or states (memory grows
    as ``T B (E + N)``); on CUDA the materialised form through Triton's ``linear_scan``.
    """

    def __init__(self, d_model: int, d_state: int = 16, *, expand: int = 2, d_conv: int = 4, dt_rank="auto",
                 dt_min: float = 1e-3, dt_max: float = 0.1, backend: str = "auto", seed: int | None = None):
        super().__init__()
        self.d_model = check_size("d_model", d_model)
        self.d_state = check_size("d_state", d_state)
        self.expand = check_size("expand", expand)
        self.d_conv = check_size("d_conv", d_conv)
        auto = isinstance(dt_rank, str) and dt_rank == "auto"
        self.dt_rank = math.ceil(self.d_model / 16) if auto else check_size("dt_rank", dt_rank)
        d, e, n, r = self.d_model, self.expand * self.d_model, self.d_state, self.dt_rank
        _check_parameters(f"SelectiveSSM({d}, {n}, expand={self.expand})",
                          3.0 * d * e + e * (self.d_conv + 2.0 * r + 3.0 * n + 3))
        dt_min, dt_max = check_number("dt_min", dt_min), check_number("dt_max", dt_max)
        if not 0.0 < dt_min < dt_max:
            raise ValueError(f"dt_min and dt_max must satisfy 0 < dt_min < dt_max, got dt_min={dt_min}, dt_max={dt_max}")
        self.dt_min, self.dt_max = dt_min, dt_max
        self.backend = _check_backend(backend)
        self.d_inner = e
        dtype = torch.get_default_dtype()
        with _seeded(seed):
            self.in_proj = nn.Linear(d, 2 * e, bias=False)
            self.conv = nn.Conv1d(e, e, self.d_conv, groups=e, bias=True)
            self.x_proj = nn.Linear(e, r + 2 * n, bias=False)
            self.dt_proj = nn.Linear(r, e, bias=True)
            self.out_proj = nn.Linear(e, d, bias=False)
            with torch.no_grad():
                nn.init.uniform_(self.dt_proj.weight, -r ** -0.5, r ** -0.5)
                log_lo, log_hi = math.log(dt_min), math.log(dt_max)
                dt = torch.exp(torch.rand(e, dtype=torch.float64) * (log_hi - log_lo) + log_lo)
                self.dt_proj.bias.copy_(dt + torch.log(-torch.expm1(-dt)))  # softplus⁻¹(dt)
        a_log = torch.log(torch.arange(1, n + 1, dtype=torch.float64)).repeat(e, 1)
        self.A_log = nn.Parameter(a_log.to(dtype))
        self.D = nn.Parameter(torch.ones(e, dtype=dtype))

    def _start(self, state, x: torch.Tensor) -> SelectiveSSMState:
        batch, e, k = x.shape[-2], self.d_inner, self.d_conv - 1
        if state is None:
            return SelectiveSSMState(x.new_zeros(batch, e, k), x.new_zeros(batch, e, self.d_state))
        if not (isinstance(state, tuple) and len(state) == 2):
            raise TypeError(f"state must be a SelectiveSSMState(conv, h) or None, got {type(state).__name__}")
        return SelectiveSSMState(
            check_tensor("state.conv", state[0], (batch, e, k), x, axes=("batch", "E", "d_conv-1"), cast=True),
            check_tensor("state.h", state[1], (batch, e, self.d_state), x, axes=("batch", "E", "d_state"), cast=True))

    def initial_state(self, batch: int, device=None, dtype: torch.dtype | None = None) -> SelectiveSSMState:
        """Zero state (conv buffer and scan state) for ``batch`` sequences."""
        batch = check_size("batch", batch)
        dtype = _check_dtype(dtype or self.A_log.dtype)
        return SelectiveSSMState(torch.zeros(batch, self.d_inner, self.d_conv - 1, dtype=dtype, device=device),
                                 torch.zeros(batch, self.d_inner, self.d_state, dtype=dtype, device=device))

    def _selection(self, u: torch.Tensor):
        """Step sizes and input-dependent B, C from the conv output ``u [..., E]``:
        ``Δ [..., E]``, ``B_t [..., N]``, ``C_t [..., N]``, and ``A [E, N]``."""
        low, b_t, c_t = torch.split(_linear(u, self.x_proj), [self.dt_rank, self.d_state, self.d_state], dim=-1)
        delta = F.softplus(_linear(low, self.dt_proj))
        return delta, b_t, c_t, -self.A_log.to(u.dtype).exp()

    def forward(self, x: torch.Tensor, state: SelectiveSSMState | None = None):
        """``x [T, B, d_model]`` -> ``(y [T, B, d_model], SelectiveSSMState)``."""
        _check_sequence(x, self.d_model, "d_model")
        conv_state, h0 = start = self._start(state, x)
        u, z = _linear(x, self.in_proj).chunk(2, dim=-1)  # [T, B, E] each
        # causal depthwise conv: prepend the previous call's last d_conv-1 inputs
        padded = torch.cat([conv_state, u.permute(1, 2, 0)], dim=-1)  # [B, E, d_conv-1+T]
        u = F.conv1d(padded, self.conv.weight.to(x.dtype), self.conv.bias.to(x.dtype), groups=self.d_inner)
        u = F.silu(u).permute(2, 0, 1)  # [T, B, E]
        delta, b_t, c_t, a = self._selection(u)
        y, h_last = selective_scan(delta, a, u, b_t, c_t, h0, backend=self.backend)
        y = y + self.D.to(x.dtype) * u
        _check_finite(type(self).__name__, x, h_last, None if state is None else start)
        new_conv = padded[..., padded.shape[-1] - (self.d_conv - 1):]
        return _linear(y * F.silu(z), self.out_proj), SelectiveSSMState(new_conv, h_last)

    def step(self, x_t: torch.Tensor, state: SelectiveSSMState | None = None):
        """One step, ``x_t [B, d_model]`` -> ``(y_t [B, d_model], SelectiveSSMState)``: the
        recurrence written out (no scan, no conv call), for recurrent inference."""
        _check_tensor("x_t", x_t, f"[batch, d_model={self.d_model}]", 2, self.d_model)
        conv_state, h = start = self._start(state, x_t)
        u, z = _linear(x_t, self.in_proj).chunk(2, dim=-1)  # [B, E]
        window = torch.cat([conv_state, u.unsqueeze(-1)], dim=-1)  # [B, E, d_conv]
        u = (window * self.conv.weight.to(x_t.dtype)[:, 0]).sum(-1) + self.conv.bias.to(x_t.dtype)
        u = F.silu(u)
        delta, b_t, c_t, a = self._selection(u)
        h = torch.exp(delta.unsqueeze(-1) * a) * h + (delta * u).unsqueeze(-1) * b_t.unsqueeze(-2)
        y = (h @ c_t.unsqueeze(-1)).squeeze(-1) + self.D.to(x_t.dtype) * u
        _check_finite(type(self).__name__, x_t[None], h, None if state is None else start)
        return _linear(y * F.silu(z), self.out_proj), SelectiveSSMState(window[..., 1:], h)

    def extra_repr(self) -> str:
        return (f"d_model={self.d_model}, d_state={self.d_state}, d_inner={self.d_inner}, d_conv={self.d_conv}, "
                f"dt_rank={self.dt_rank}, backend={self.backend!r}")


# --------------------------------------------------------------------------- spiking models


class SpikingSequenceState(NamedTuple):
    """One ``RecurrentLIFState(v, s)`` per spiking layer, and the readout's ``LIFState(v)``."""

    layers: tuple
    readout: LIFState


class SpikingSequenceModel(nn.Module):
    """Stacked recurrent spiking layers with a leaky-integrator readout.

    ``x [T, B, d_in]`` -> ``n_layers`` :class:`~neurosim.nn.RecurrentLIF` layers of ``d_hidden``
    neurons (the first takes ``x`` as its input current through its input weights, the others
    the spikes of the layer below) -> ``Linear(d_hidden, d_out)`` -> :class:`~neurosim.nn.LI`
    (``v[t] = readout_beta v[t-1] + W s[t] + b``); the output is the membrane ``v [T, B, d_out]``.

    Parameters
    ----------
    d_in, d_hidden, d_out : input features, spiking neurons per layer, outputs.
    n_layers : number of spiking layers (>= 1).
    beta, threshold : membrane decay per step in (0, 1] and firing threshold of the spiking
        layers (as :class:`~neurosim.nn.LIF`).
    readout_beta : decay of the readout integrator in (0, 1].
    surrogate : spike derivative for training (default fast sigmoid).
    backend : ``"auto"``, ``"numba"``, ``"triton"``, ``"reference"`` or ``"torch"``.
    seed : int seed of the initialisation (``None``: torch's global generator).

    ``forward(x, state=None) -> (y [T, B, d_out], SpikingSequenceState)``.
    """

    def __init__(self, d_in: int, d_hidden: int, d_out: int, *, n_layers: int = 2, beta=0.9, threshold=1.0,
                 readout_beta=0.9, surrogate=None, backend: str = "auto", seed: int | None = None):
        super().__init__()
        self.d_in, self.d_hidden = check_size("d_in", d_in), check_size("d_hidden", d_hidden)
        self.d_out, self.n_layers = check_size("d_out", d_out), check_size("n_layers", n_layers)
        self.backend = _check_backend(backend)
        _check_parameters(f"SpikingSequenceModel({self.d_in}, {self.d_hidden}, {self.d_out}, n_layers={self.n_layers})",
                          float(self.d_hidden) * (self.d_in + 2 * self.d_hidden * self.n_layers + self.d_out + 2))
        with _seeded(seed):
            self.layers = nn.ModuleList(
                RecurrentLIF(self.d_in if i == 0 else self.d_hidden, self.d_hidden, beta, threshold,
                             surrogate=surrogate, backend=backend) for i in range(self.n_layers))
            self.readout = nn.Linear(self.d_hidden, self.d_out)
        try:
            self.integrator = LI(self.d_out, readout_beta, backend=backend)
        except (TypeError, ValueError) as err:  # LI calls it beta
            raise type(err)(f"readout_beta: {err}") from None

    def forward(self, x: torch.Tensor, state: SpikingSequenceState | None = None):
        """``x [T, B, d_in]`` -> ``(y [T, B, d_out], SpikingSequenceState)``."""
        _check_sequence(x, self.d_in, "d_in")
        if state is not None and not (isinstance(state, tuple) and len(state) == 2 and isinstance(state[0], tuple)
                                      and len(state[0]) == self.n_layers):
            raise TypeError(f"state must be a SpikingSequenceState with {self.n_layers} layer states, or None, "
                            f"got {type(state).__name__}")
        states = []
        out = x
        for i, layer in enumerate(self.layers):
            out, s = layer(out, None if state is None else state[0][i])
            states.append(s)
        y, readout_state = self.integrator(_linear(out, self.readout), None if state is None else state[1])
        return y, SpikingSequenceState(tuple(states), readout_state)


class HybridState(NamedTuple):
    """The mixer's complex state ``ssm [B, d_state]`` and the spiking layer's ``LIFState(v)``."""

    ssm: torch.Tensor
    lif: LIFState


class HybridBlock(nn.Module):
    """A DiagonalSSM mixer followed by a spiking channel, with a residual connection::

        m = DiagonalSSM(LayerNorm(x))        [T, B, d_model]  (mixing over time, complex state)
        s = LIF(W_in m + b_in)               [T, B, d_hidden] (spikes, 0/1)
        y = x + W_out s + b_out              [T, B, d_model]

    Input and output have the same shape, so blocks stack (``nn.Sequential`` does not pass
    state; loop over blocks to carry it). ``W_out`` starts small (x 0.1) so a fresh block is
    close to the identity.

    Parameters
    ----------
    d_model : features in and out.
    d_state : complex modes of the mixer.
    d_hidden : spiking neurons (default ``d_model``).
    beta, threshold, surrogate : of the spiking layer (as :class:`~neurosim.nn.LIF`).
    r_min, r_max : ring of the mixer's initial eigenvalue magnitudes (as :class:`DiagonalSSM`).
    backend, seed : as :class:`DiagonalSSM` (the backend also runs the LIF layer).

    ``forward(x, state=None) -> (y [T, B, d_model], HybridState)``.
    """

    def __init__(self, d_model: int, d_state: int = 64, *, d_hidden: int | None = None, beta=0.9, threshold=1.0,
                 surrogate=None, r_min: float = 0.0, r_max: float = 0.99, backend: str = "auto",
                 seed: int | None = None):
        super().__init__()
        self.d_model = check_size("d_model", d_model)
        self.d_hidden = self.d_model if d_hidden is None else check_size("d_hidden", d_hidden)
        self.backend = _check_backend(backend)
        _check_parameters(f"HybridBlock({self.d_model})'s spiking channel",
                          2.0 * self.d_model * (self.d_hidden + 2) + 2 * self.d_hidden)
        with _seeded(seed):
            self.norm = nn.LayerNorm(self.d_model)
            self.ssm = DiagonalSSM(self.d_model, d_state, r_min=r_min, r_max=r_max, backend=backend)
            self.to_spikes = nn.Linear(self.d_model, self.d_hidden)
            self.from_spikes = nn.Linear(self.d_hidden, self.d_model)
            with torch.no_grad():
                self.from_spikes.weight.mul_(0.1)
                self.from_spikes.bias.zero_()
        self.lif = LIF(self.d_hidden, beta, threshold, surrogate=surrogate, backend=backend)

    def forward(self, x: torch.Tensor, state: HybridState | None = None):
        """``x [T, B, d_model]`` -> ``(y [T, B, d_model], HybridState)``."""
        _check_sequence(x, self.d_model, "d_model")
        if state is not None and not (isinstance(state, tuple) and len(state) == 2):
            raise TypeError(f"state must be a HybridState(ssm, lif) or None, got {type(state).__name__}")
        normed = F.layer_norm(x, (self.d_model,), self.norm.weight.to(x.dtype), self.norm.bias.to(x.dtype),
                              self.norm.eps)
        mixed, ssm_state = self.ssm(normed, None if state is None else state.ssm)
        spikes, lif_state = self.lif(_linear(mixed, self.to_spikes), None if state is None else state.lif)
        return x + _linear(spikes, self.from_spikes), HybridState(ssm_state, lif_state)
