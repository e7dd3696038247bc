"""Jet events with jet-parton assignment targets, in aihep's HDF5 layout and SPANet's.

The container :class:`JetEvents` holds up to ``max_jets`` jets per event (pt, eta, phi,
mass in GeV and rad, a 0/1 b-tag, a mask for padding) and, per event, the index of the jet
matched to each parton of the two top quarks: ``t1`` is the top, ``t2`` the anti-top, each
with ``b``, ``q1``, ``q2`` (-1: the parton has no matched jet).

SPANet layout (its "V2" HDF5, written by :func:`write_spanet`)::

    INPUTS/Source/MASK (N, J) bool, INPUTS/Source/{mass, pt, eta, phi, btag} (N, J) float
    TARGETS/t1/{b, q1, q2} (N,) int, TARGETS/t2/{b, q1, q2} (N,) int

:func:`read_spanet` also reads files made elsewhere: the jet group may have another name
(``INPUTS/Jets``, ``INPUTS/Momenta``: the one sequential group with a ``MASK`` and the jet
features), extra features are ignored, ``phi`` may be given as ``sin_phi`` and ``cos_phi``,
and SPANet 1's layout (``source/{mask, ...}``, ``t1/{b, q1, q2}`` at the top level; the
particles' own ``mask`` is not needed: a negative index marks a missing parton) is read too.
Values on padded jets are set to zero.

aihep layout: the same arrays under ``jets/`` (``mask`` lower case), ``targets`` (N, 6) in
the order of :data:`PARTONS`, and ``partons`` (N, 6, 4) px, py, pz, E in GeV.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from aihep.errors import InputError

PARTONS: tuple[str, ...] = ("t1/b", "t1/q1", "t1/q2", "t2/b", "t2/q1", "t2/q2")
FEATURES: tuple[str, ...] = ("pt", "eta", "phi", "mass", "btag")
OPTIONAL: tuple[str, ...] = ("partons", "lepton", "met", "higgs_targets", "tops")


@dataclass(frozen=True)
class JetEvents:
    """Jets (N, J) and assignment targets (N, 6) of N events (see the module docstring)."""

    pt: np.ndarray
    eta: np.ndarray
    phi: np.ndarray
    mass: np.ndarray
    btag: np.ndarray
    mask: np.ndarray
    targets: np.ndarray
    partons: np.ndarray | None = None
    #: optional event-level objects and truth (event-level models)
    lepton: np.ndarray | None = None  # (N, 4) pt, eta, phi, PDG id of the leading lepton
    met: np.ndarray | None = None  # (N, 2) missing pT [GeV] and its azimuth
    higgs_targets: np.ndarray | None = None  # (N, 2) jets of the H -> b bbar partons
    tops: np.ndarray | None = None  # (N, 2, 4) px, py, pz, E of the top and the antitop

    def __len__(self) -> int:
        return len(self.pt)

    @property
    def n_jets(self) -> np.ndarray:
        """Jets per event."""
        return self.mask.sum(1)

    @property
    def max_jets(self) -> int:
        return self.pt.shape[1]

    def select(self, index: np.ndarray) -> JetEvents:
        """The events at ``index`` (a boolean mask or integer indices)."""
        optional: dict[str, Any] = {f: None if getattr(self, f) is None
                                    else getattr(self, f)[index] for f in OPTIONAL}
        return JetEvents(*(getattr(self, f)[index] for f in (*FEATURES, "mask", "targets")),
                         **optional)

    @property
    def has_truth(self) -> bool:
        """Whether the events carry generator truth: parton targets, parton or top momenta,
        or Higgs targets (QCD events from the generator do: they have no top, which is their
        truth); events read without any (collision data, :meth:`without_truth`) do not."""
        return (self.partons is not None or self.tops is not None
                or self.higgs_targets is not None or bool((self.targets >= 0).any()))

    def without_truth(self) -> JetEvents:
        """The same events as collision data would have them: no parton targets, partons,
        Higgs targets or top momenta (the lepton and missing pT are reconstructed objects
        and stay)."""
        return dataclasses.replace(self, targets=np.full_like(self.targets, -1),
                                   partons=None, higgs_targets=None, tops=None)

    def features(self) -> np.ndarray:
        """(N, J, 5) float32: pt, eta, phi, mass, btag (zeros on padded jets)."""
        return np.stack([getattr(self, f) for f in FEATURES], axis=-1).astype(np.float32)

    @staticmethod
    def concatenate(parts: list[JetEvents]) -> JetEvents:
        optional: dict[str, Any] = {f: None if any(getattr(p, f) is None for p in parts)
                                    else np.concatenate([getattr(p, f) for p in parts])
                                    for f in OPTIONAL}
        return JetEvents(*(np.concatenate([getattr(p, f) for p in parts])
                           for f in (*FEATURES, "mask", "targets")), **optional)


def write_events(path: str | Path, events: JetEvents) -> Path:
    """aihep's layout (atomic)."""
    import h5py

    from aihep._atomic import write_atomic

    def write(tmp: Path) -> None:
        with h5py.File(tmp, "w") as f:
            for name in FEATURES:
                f.create_dataset(f"jets/{name}", data=getattr(events, name).astype(np.float32),
                                 compression="gzip", compression_opts=4)
            f.create_dataset("jets/mask", data=events.mask.astype(bool))
            f.create_dataset("targets", data=events.targets.astype(np.int64))
            for name in OPTIONAL:
                value = getattr(events, name)
                if value is not None:
                    f.create_dataset(name, data=value.astype(
                        np.int64 if name == "higgs_targets" else np.float32))
            f.attrs["partons"] = ",".join(PARTONS)
            f.attrs["layout"] = "aihep.assignment.v1"

    return write_atomic(path, write)


def write_spanet(path: str | Path, events: JetEvents) -> Path:
    """SPANet's HDF5 layout (atomic)."""
    import h5py

    from aihep._atomic import write_atomic

    def write(tmp: Path) -> None:
        with h5py.File(tmp, "w") as f:
            _write_spanet_groups(f, events, events.targets)

    return write_atomic(path, write)


def _write_spanet_groups(f, events: JetEvents, targets: np.ndarray) -> None:
    f.create_dataset("INPUTS/Source/MASK", data=events.mask.astype(bool))
    for name in FEATURES:
        f.create_dataset(f"INPUTS/Source/{name}", data=getattr(events, name).astype(np.float32))
    for k, name in enumerate(PARTONS):
        f.create_dataset(f"TARGETS/{name}", data=targets[:, k].astype(np.int64))


def write_assignments(path: str | Path, events: JetEvents, assignment: np.ndarray,
                      tops: dict[str, np.ndarray],
                      detection: np.ndarray | None = None) -> Path:
    """Predicted assignments in SPANet's layout (atomic), like SPANet's own predictions: the
    jets under ``INPUTS/Source``, the predicted jet of each parton under ``TARGETS/t1/b`` ...
    (-1: none), ``TARGETS/t1/detection_probability`` when the method gives one, and the
    reconstructed tops under ``RECONSTRUCTED/t1/{top_mass, top_pt, top_eta, top_phi,
    w_mass}`` (GeV, rad; NaN for a top without three assigned jets)."""
    import h5py

    from aihep._atomic import write_atomic

    def write(tmp: Path) -> None:
        with h5py.File(tmp, "w") as f:
            _write_spanet_groups(f, events, assignment)
            for t, top in enumerate(("t1", "t2")):
                if detection is not None:
                    f.create_dataset(f"TARGETS/{top}/detection_probability",
                                     data=detection[:, t].astype(np.float32))
                for key, values in tops.items():
                    f.create_dataset(f"RECONSTRUCTED/{top}/{key}",
                                     data=values[:, t].astype(np.float32))
            f.attrs["layout"] = "aihep.assignment.predictions.v1"

    return write_atomic(path, write)


def _array(f, path: Path, key: str, shape: tuple[int | None, ...], kind: str) -> np.ndarray:
    if key not in f:
        raise InputError(path, key, f"a {kind} array of shape {_shape(shape)}")
    data = f[key][()]
    if data.ndim != len(shape) or any(s is not None and s != d
                                      for s, d in zip(shape, data.shape, strict=True)):
        raise InputError(path, key, f"a {kind} array of shape {_shape(shape)}, got "
                         f"{data.shape}")
    return data


def _shape(shape: tuple[int | None, ...]) -> str:
    return "(" + ", ".join("N" if i == 0 and s is None else "J" if s is None else str(s)
                           for i, s in enumerate(shape)) + ")"


def _check(path: Path, events: JetEvents, prefix: str, target_key) -> JetEvents:
    if len(events) == 0:
        mask = "MASK" if prefix.startswith("INPUTS") else "mask"
        raise InputError(path, f"{prefix}{mask}", "at least one event (the file holds none)")
    j = events.mask.shape[1]
    for name in FEATURES:
        values = getattr(events, name)
        if not np.all(np.isfinite(values[events.mask])):
            raise InputError(path, f"{prefix}{name}", "finite values for every unmasked jet "
                             "(NaN or inf found)")
    if np.any(events.pt[events.mask] < 0) or np.any(events.mass[events.mask] < -1e-3):
        raise InputError(path, f"{prefix}pt/mass", "non-negative transverse momenta and masses")
    t = events.targets
    bad = (t < -1) | (t >= j)
    padded = (t >= 0) & ~np.take_along_axis(events.mask, np.clip(t, 0, j - 1), axis=1)
    if bad.any() or padded.any():
        k = int(np.argwhere(bad | padded)[0][1])
        raise InputError(path, target_key(PARTONS[k]), "-1 or the index of an unmasked jet")
    for row in t:
        used = row[row >= 0]
        if len(np.unique(used)) != len(used):
            raise InputError(path, target_key("*"), "each jet matched to at most one parton")
    return events


def read_events(path: str | Path, require_targets: bool = True) -> JetEvents:
    """aihep's layout, checked (shapes, finite kinematics, target indices). Without
    ``require_targets`` a file without ``targets`` (data) reads with every target -1."""
    import h5py

    path = Path(path)
    if not path.is_file():
        raise InputError(path, "file", "an HDF5 file of jet events (aihep assign dataset)")
    try:
        with h5py.File(path, "r") as f:
            mask = _array(f, path, "jets/mask", (None, None), "boolean").astype(bool)
            shape = mask.shape
            columns = {name: _array(f, path, f"jets/{name}", shape, "float")
                       for name in FEATURES}
            targets = (_array(f, path, "targets", (shape[0], len(PARTONS)), "integer")
                       if require_targets or "targets" in f
                       else np.full((shape[0], len(PARTONS)), -1))
            shapes = {"partons": (shape[0], len(PARTONS), 4), "lepton": (shape[0], 4),
                      "met": (shape[0], 2), "higgs_targets": (shape[0], 2),
                      "tops": (shape[0], 2, 4)}
            optional = {name: _array(f, path, name, shapes[name], "numeric")
                        for name in OPTIONAL if name in f}
    except OSError:
        raise InputError(path, "file", "a readable HDF5 file") from None
    events = JetEvents(**columns, mask=mask, targets=targets.astype(np.int64), **optional)
    return _check(path, events, "jets/", lambda p: "targets")


def _spanet_layout(f, path: Path) -> tuple[str, str, str]:
    """(jet group prefix, mask name, targets prefix) of a SPANet file, V2 or SPANet 1."""
    import h5py

    if "INPUTS" in f:
        inputs = f["INPUTS"]
        groups = [name for name in inputs if isinstance(inputs[name], h5py.Group)
                  and "MASK" in inputs[name]]
        jets = [g for g in groups if set(FEATURES) - {"phi"} <= set(inputs[g])]
        name = "Source" if "Source" in groups else jets[0] if len(jets) == 1 else None
        if name is None:
            raise InputError(path, "INPUTS", "one sequential input group with MASK, pt, eta, "
                             "phi (or sin_phi and cos_phi), mass and btag, or one named "
                             f"Source; found groups {sorted(inputs)}")
        return f"INPUTS/{name}/", "MASK", "TARGETS/"
    if "source" in f:
        return "source/", "mask", ""
    raise InputError(path, "INPUTS", "SPANet's layout: INPUTS/Source/{MASK, pt, eta, phi, mass, "
                     "btag} and TARGETS/t1/{b, q1, q2} (or SPANet 1's source/ and t1/)")


def _spanet_phi(f, path: Path, prefix: str, shape: tuple[int, int]) -> np.ndarray:
    if f"{prefix}phi" in f or f"{prefix}sin_phi" not in f:
        return _array(f, path, f"{prefix}phi", shape, "float")
    sin = _array(f, path, f"{prefix}sin_phi", shape, "float")
    return np.arctan2(sin, _array(f, path, f"{prefix}cos_phi", shape, "float"))


def _spanet_target(f, path: Path, prefix: str, parton: str, n: int,
                   required: bool = True) -> np.ndarray:
    import h5py

    key = f"{prefix}{parton}"
    if key in f:
        return _array(f, path, key, (n,), "integer")
    if not required:
        return np.full(n, -1)
    group = f[prefix.rstrip("/")] if prefix and prefix.rstrip("/") in f else f
    found = ", ".join(f"{name}/{{{', '.join(sorted(group[name]))}}}" for name in group
                      if isinstance(group[name], h5py.Group)
                      and name not in ("INPUTS", "source", "TARGETS"))
    raise InputError(path, key, "the jet index of each parton of the all-hadronic ttbar "
                     "targets t1, t2 with b, q1, q2 (-1: unmatched); found "
                     f"{found or 'no particles'}")


def read_spanet(path: str | Path, require_targets: bool = True) -> JetEvents:
    """SPANet's layout (V2, or SPANet 1's), checked: every feature of :data:`FEATURES` and
    every target of :data:`PARTONS` must be present, with consistent shapes (see the module
    docstring for the variants read). Without ``require_targets`` missing targets are -1
    (data, or events of another process to be assigned)."""
    import h5py

    path = Path(path)
    if not path.is_file():
        raise InputError(path, "file", "an HDF5 file in SPANet's layout")
    try:
        with h5py.File(path, "r") as f:
            prefix, mask_name, targets_prefix = _spanet_layout(f, path)
            mask = _array(f, path, f"{prefix}{mask_name}", (None, None),
                          "boolean").astype(bool)
            shape = mask.shape
            columns = {name: _spanet_phi(f, path, prefix, shape) if name == "phi"
                       else _array(f, path, f"{prefix}{name}", shape, "float")
                       for name in FEATURES}
            targets = np.stack([_spanet_target(f, path, targets_prefix, name, shape[0],
                                               require_targets) for name in PARTONS], axis=1)
    except OSError:
        raise InputError(path, "file", "a readable HDF5 file") from None
    columns = {k: np.where(mask, v, 0).astype(np.float32) for k, v in columns.items()}
    targets = np.where(targets < 0, -1, targets).astype(np.int64)
    events = JetEvents(**columns, mask=mask, targets=targets)
    return _check(path, events, prefix, lambda p: f"{targets_prefix}{p}")


def read_jet_events(path: str | Path, require_targets: bool = True) -> JetEvents:
    """Either layout, recognized by its groups (``require_targets``: see
    :func:`read_spanet`)."""
    import h5py

    path = Path(path)
    try:
        with h5py.File(path, "r") as f:
            spanet = "INPUTS" in f or "source" in f
    except (OSError, FileNotFoundError):
        raise InputError(path, "file", "a readable HDF5 file of jet events") from None
    return (read_spanet if spanet else read_events)(path, require_targets)
