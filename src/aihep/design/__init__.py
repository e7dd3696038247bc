"""Detector design optimization: typed problems, simulators as objectives, optimizers on
equal budgets of simulator calls, a record of every evaluation."""
