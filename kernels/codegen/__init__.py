"""Code generation from neuron model definitions: the parsed form (``ir``), its vectorised
evaluation with numpy or torch (``interpret``, the reference semantics), and the per-neuron
sources of the Numba and Triton engines (``numba_source``, ``triton_source``), written to a
cache folder and imported (``modules``) so that Numba's disk cache and Triton's source
inspection work on them like on hand-written modules."""
