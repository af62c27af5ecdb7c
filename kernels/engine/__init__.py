"""The event-driven engine's kernels: the numpy reference (the specification), the Numba CPU
backend and the Triton GPU backend. What differs between neuron models is generated from their
definitions (:mod:`neurosim.kernels.codegen`); what every network shares -- propagation
through the CSR rows and the delay ring, recording, monitors -- is written here once per
backend."""
