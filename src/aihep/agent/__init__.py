"""The aihep agent: typed tools, permissions, a tamper-evident provenance record, replay."""
