"""Readers and writers: the aihep event store and community formats (LHC Olympics, CSV)."""
