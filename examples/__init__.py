"""Example experiments. Each module registers one experiment with ``neurosim.experiments``;
run them with ``neurosim run NAME`` or ``python -m neurosim.examples.<module>``."""
