"""Run a module of the ``spanet`` package (2.1.1) in its own venv with the numpy aliases it
still uses (``np.object``, ``np.int``, ``np.float``, ``np.bool``: removed in numpy 1.24), or
count the trainable parameters of the network spanet would build.

Usage: <spanet-venv>/bin/python benchmarks/spanet_shim.py spanet.train [spanet options]
       <spanet-venv>/bin/python benchmarks/spanet_shim.py --count EVENT.yaml TRAIN.h5 OPTIONS.json
"""

import json
import runpy
import sys

import numpy as np

for _name, _value in (("object", object), ("int", int), ("float", float), ("bool", bool)):
    if _name not in np.__dict__:
        setattr(np, _name, _value)
if sys.argv[1] == "--count":
    from spanet import JetReconstructionModel, Options

    options = Options(sys.argv[2], sys.argv[3])
    with open(sys.argv[4]) as handle:
        options.update_options(json.load(handle))
    model = JetReconstructionModel(options)
    print(sum(p.numel() for p in model.parameters() if p.requires_grad))
else:
    module = sys.argv[1]
    sys.argv = [module, *sys.argv[2:]]
    runpy.run_module(module, run_name="__main__", alter_sys=True)
