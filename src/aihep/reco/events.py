"""Simulated or user events on disk: loading with checks, per-DOM summaries, truth.

An event file is Parquet with one record per event: hit lists ``dom``, ``x``, ``y``, ``z``
(m), ``t`` (ns), ``npe`` and, for simulated events, truth (``energy_tev``, ``dir_x/y/z``,
``vertex_x/y/z``, ...) and per-hit truth (``emit_x/y/z``: the direct Cherenkov emission point
of the hit's DOM, ``signal_npe``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import awkward as ak
import numpy as np

from aihep.errors import InputError
from aihep.reco.simulate import HIT_FIELDS


@dataclass(frozen=True)
class DomSummary:
    """Per hit DOM of one event: position (n, 3) m, first-hit time (n,) ns, total charge
    (n,) pe, number of hits (n,), and the index of its first hit in the event's hit list."""

    position: np.ndarray
    first_time: np.ndarray
    charge: np.ndarray
    n_hits: np.ndarray
    first_hit: np.ndarray

    def __len__(self) -> int:
        return len(self.first_time)


def pad_doms(doms: list[DomSummary]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Many events' DOMs as padded arrays for batched fits: positions (n, P, 3) m, first-hit
    times (n, P) ns, charges (n, P) pe and the mask (n, P) of real DOMs (P: the largest
    event; padding is zero)."""
    n, width = len(doms), max((len(d) for d in doms), default=0)
    position, time = np.zeros((n, width, 3)), np.zeros((n, width))
    charge, mask = np.zeros((n, width)), np.zeros((n, width), bool)
    for i, d in enumerate(doms):
        m = len(d)
        position[i, :m], time[i, :m], charge[i, :m], mask[i, :m] = (
            d.position, d.first_time, d.charge, True)
    return position, time, charge, mask


def load_events(path: str | Path, truth: bool = False) -> ak.Array:
    """Read an event file; ``truth`` also requires the truth direction and energy."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "file", "an existing Parquet event file (aihep reco simulate)")
    try:
        events = ak.from_parquet(path)
    except Exception as error:  # pyarrow raises several types for a non-Parquet file
        raise InputError(path, "format", f"a Parquet file ({error.__class__.__name__})"
                         ) from None
    fields = set(events.fields)
    needed = list(HIT_FIELDS) + (["energy_tev", "dir_x", "dir_y", "dir_z"] if truth else [])
    missing = [f for f in needed if f not in fields]
    if missing:
        raise InputError(path, ", ".join(missing), f"fields {', '.join(needed)} "
                         "(one record per event, hit lists dom, x, y, z in m, t in ns, npe)")
    if len(events) == 0:
        raise InputError(path, "events", "at least one event")
    for name in ("x", "y", "z", "t", "npe"):
        if not np.all(np.isfinite(ak.to_numpy(ak.flatten(events[name])))):
            raise InputError(path, name, "finite values")
    return events


def truth_directions(events: ak.Array) -> np.ndarray:
    """(n_events, 3) unit direction of travel."""
    return np.stack([ak.to_numpy(events[f"dir_{c}"]) for c in "xyz"], axis=1)


def hit_columns(events: ak.Array, names: tuple[str, ...] = ("dom", "x", "y", "z", "t", "npe")
                ) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Flat numpy hit columns of all events and the offsets (n_events + 1,) into them
    (one conversion instead of a slow per-event awkward access)."""
    counts = ak.to_numpy(ak.num(events[names[0]]))
    offsets = np.concatenate([[0], np.cumsum(counts)])
    return {n: ak.to_numpy(ak.flatten(events[n])) for n in names}, offsets


def dom_summaries(events: ak.Array) -> list[DomSummary]:
    """:func:`dom_summary` of every event."""
    columns, offsets = hit_columns(events)
    return [_summary(*(columns[n][offsets[i]: offsets[i + 1]] for n in
                       ("dom", "x", "y", "z", "t", "npe"))) for i in range(len(events))]


def dom_summary(event: ak.Record) -> DomSummary:
    """Aggregate an event's hits per DOM."""
    return _summary(*(np.asarray(event[n]) for n in ("dom", "x", "y", "z", "t", "npe")))


def _summary(dom: np.ndarray, x: np.ndarray, y: np.ndarray, z: np.ndarray, t: np.ndarray,
             npe: np.ndarray) -> DomSummary:
    t = np.asarray(t, float)
    npe = np.asarray(npe, float)
    order = np.lexsort((t, dom))
    dom_sorted = dom[order]
    start = np.flatnonzero(np.r_[True, dom_sorted[1:] != dom_sorted[:-1]]) if len(dom) else \
        np.zeros(0, np.int64)
    first = order[start]
    position = np.stack([np.asarray(c, float)[first] for c in (x, y, z)], axis=1)
    charge = np.add.reduceat(npe[order], start) if len(dom) else np.zeros(0)
    n_hits = np.diff(np.append(start, len(dom)))
    return DomSummary(position, t[first], charge, n_hits, first)
