"""Run a module of the ``spanet`` package (2.1.1) in its own venv with the numpy aliases it
still uses (``np.object``, ``np.int``, ``np.float``, ``np.bool``: removed in numpy 1.24).

Usage: <spanet-venv>/bin/python benchmarks/spanet_shim.py spanet.train [spanet options]
"""

import runpy
import sys

import numpy as np

for _name, _value in (("object", object), ("int", int), ("float", float), ("bool", bool)):
    if _name not in np.__dict__:
        setattr(np, _name, _value)
module = sys.argv[1]
sys.argv = [module, *sys.argv[2:]]
runpy.run_module(module, run_name="__main__", alter_sys=True)
