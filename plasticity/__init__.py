"""neurosim.plasticity: (built in later issues)."""
