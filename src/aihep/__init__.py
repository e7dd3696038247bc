"""aihep: AI methods of experimental high-energy physics, from paper to result on your data.

Sub-packages, one per task: ``events`` (Pythia 8 + FastJet event factory, LHCO datasets),
``io`` (community formats), ``workflow`` (executors, manifests, seeds), ``report`` (plots, HTML).
"""

from __future__ import annotations

__version__ = "0.1.0"
#: the master seed of every command and config unless the user gives one
DEFAULT_SEED = 1
__all__ = ["DEFAULT_SEED", "__version__"]
