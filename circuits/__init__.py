"""neurosim.circuits: (built in later issues)."""
