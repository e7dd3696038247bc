"""Jet tagging: datasets, features, ParticleNet / ParT / PFN / BDT taggers and their metrics."""
