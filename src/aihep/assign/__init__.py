"""Jet-parton assignment: which jets come from which top quark (all-hadronic ttbar).

Data from the event factory (:mod:`aihep.assign.data`), the chi2 permutation baseline
(:mod:`aihep.assign.chi2`) and efficiency metrics (:mod:`aihep.assign.metrics`).
"""
