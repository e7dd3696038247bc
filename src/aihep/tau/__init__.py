"""Tau identification (DeepTau-style) with domain adaptation from simulation to data."""
