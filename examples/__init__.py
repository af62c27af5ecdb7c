"""Example experiments. Each module registers one experiment with ``neurosim.experiments``;
run them with ``neurosim run NAME`` or ``python -m neurosim.examples.<module>``. The one
exception is ``ddp_train``, a torchrun script (multi-process training), not an experiment."""
