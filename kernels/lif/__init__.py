"""LIF family of the surrogate-gradient kernels: feed-forward LIF, recurrent LIF and the leaky
integrator (LI, no reset), over whole sequences ``[T, B, N]``.

- ``reference``: the torch specification (``lif_sequence_reference``, autograd), the one step
  function ``lif_step`` and the fused kernels' contract (``lif_forward`` / ``lif_backward``);
- ``numba``: the fused CPU kernels; ``triton``: the fused GPU kernels (CPU under
  ``TRITON_INTERPRET=1``). Both compute the contract's loops.

The modules are imported on first use (``neurosim.nn.functional``), so that numba or triton load
only for the backend asked for.
"""
