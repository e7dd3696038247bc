"""The event factory: Pythia 8 processes, a parametric detector, FastJet jets and substructure.

Three lines::

    from aihep.events import GenerationConfig, generate
    result = generate(GenerationConfig(process="wprime-xy", n_events=1000, seed=1), "out/wprime")
    events = result.read()          # awkward Array: event, jet and constituent fields
"""

from __future__ import annotations

from aihep.events.config import DetectorConfig, GenerationConfig, JetConfig, SelectionConfig
from aihep.events.factory import GenerationResult, generate
from aihep.events.processes import PROCESSES, Process, get_process

__all__ = [
    "PROCESSES",
    "DetectorConfig",
    "GenerationConfig",
    "GenerationResult",
    "JetConfig",
    "Process",
    "SelectionConfig",
    "generate",
    "get_process",
]
