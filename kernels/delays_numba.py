"""Numba CPU kernels of the delay layer (``neurosim.nn.DelayedLinear``): a causal convolution
over time in which synapse (i -> j) has taps only in its own window ``lo[j, i] : hi[j, i]`` (the
Gaussian around its delay), so the work is ``T * B * synapses * window``, not ``* (max_delay + 1)``
as a dense conv1d's.

Layouts: feature-major ``[features, T * B]`` (time, then batch, contiguous), so every tap is one
contiguous multiply-add of ``(T - k) * B`` numbers, which LLVM vectorises. Each parallel loop
writes its own rows (outputs in ``forward``, inputs in ``grad_input``, synapses in
``grad_kernel``): no two threads add into one number.
"""

from __future__ import annotations

import numba

_jit = numba.njit(cache=True, nogil=True, parallel=True)
# A sum over time vectorises only if its additions may be reordered (fastmath's reassociation):
# the kernel gradient then differs from the one-by-one sum in the last bits, as conv1d's does.
_jit_sum = numba.njit(cache=True, nogil=True, parallel=True, fastmath={"reassoc", "nsz", "contract"})


@numba.njit(cache=True, nogil=True, inline="always")
def _add_scaled(out, w, inp):
    """out[s] += w * inp[s] over ``inp`` (views indexed from a range: provably in bounds and
    non-negative, so the loop vectorises; an index shift + s kept a wrap-around check per element)."""
    for s in range(inp.shape[0]):
        out[s] += w * inp[s]


@_jit
def forward(x, kernel, lo, hi, batch, y):
    """``y[j, t*B + b] += sum_i sum_k kernel[j, i, k] x[i, (t - k)*B + b]`` over each window."""
    n_out, n_in = kernel.shape[0], kernel.shape[1]
    size = x.shape[1]
    for j in numba.prange(n_out):
        for i in range(n_in):
            for k in range(lo[j, i], hi[j, i]):
                _add_scaled(y[j, k * batch :], kernel[j, i, k], x[i, : size - k * batch])


@_jit
def grad_input(grad_y, kernel, lo, hi, batch, grad_x):
    """The transpose of ``forward``: ``grad_x[i, s] += kernel[j, i, k] grad_y[j, s + k*B]``."""
    n_out, n_in = kernel.shape[0], kernel.shape[1]
    size = grad_y.shape[1]
    for i in numba.prange(n_in):
        for j in range(n_out):
            for k in range(lo[j, i], hi[j, i]):
                _add_scaled(grad_x[i, : size - k * batch], kernel[j, i, k], grad_y[j, k * batch :])


@_jit_sum
def grad_kernel(grad_y, x, lo, hi, batch, grad_k):
    """``grad_k[j, i, k] = sum_s grad_y[j, s + k*B] x[i, s]`` inside each window (0 outside)."""
    n_out, n_in = grad_k.shape[0], grad_k.shape[1]
    size = x.shape[1]
    for j in numba.prange(n_out):
        for i in range(n_in):
            for k in range(lo[j, i], hi[j, i]):
                a, b = grad_y[j, k * batch :], x[i, : size - k * batch]
                acc = 0.0
                for s in range(b.shape[0]):
                    acc += a[s] * b[s]
                grad_k[j, i, k] = acc
