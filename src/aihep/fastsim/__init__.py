"""Fast calorimeter simulation: materials, layouts, the CaloChallenge file format.

Three lines::

    from aihep.fastsim.geometry import preset, effective_properties
    layout = preset("ds2")                 # CaloChallenge dataset 2 (Geant4 Par04) stack
    effective_properties(layout)   # X0, critical energy, Moliere radius, MIP sampling fraction

The reference cascade Monte Carlo, GFlash, the generative surrogates and the CaloChallenge
metrics are being built (issue 20); this package holds what exists so far.
"""
