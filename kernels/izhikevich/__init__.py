"""Izhikevich family of the surrogate-gradient kernels: Izhikevich (2003) neurons with Euler
substeps over whole sequences ``[T, B, N]`` (units: ms, mV).

- ``reference``: the torch specification (``izhikevich_sequence_reference``, autograd), the one
  step function ``izhikevich_step`` and the fused kernels' contract (``izhikevich_forward`` /
  ``izhikevich_backward``, the backward written out);
- ``numba``: the fused CPU kernels; ``triton``: the fused GPU kernels (CPU under
  ``TRITON_INTERPRET=1``). Both compute the contract's loops.

The modules are imported on first use (``neurosim.nn.izhikevich_function``), so that numba or
triton load only for the backend asked for.
"""
