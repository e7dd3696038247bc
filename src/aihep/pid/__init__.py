"""Particle identification with missing detectors and domain adaptation (ALICE-style)."""
