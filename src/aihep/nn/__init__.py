"""Shared neural-network machinery: one training loop for every model."""
