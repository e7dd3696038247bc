"""Thin layer over ``pythia8mc``: build an initialized generator, produce batches as arrays.

The whole path stays vectorized: ``Pythia.nextBatch`` returns an awkward Array of events and
the final-state particles are selected with array operations, no Python loop over particles.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np

from aihep.errors import ConfigError

QUIET_SETTINGS = ("Print:quiet = on", "Next:numberCount = 0")
NEUTRINOS = (12, 14, 16)


@contextlib.contextmanager
def silence_stdout() -> Iterator[None]:
    """Redirect the C++ stdout (file descriptor 1) to /dev/null: Pythia prints banners there."""
    import sys

    sys.stdout.flush()
    try:
        fd = os.dup(1)
    except OSError:  # no real stdout (e.g. some notebooks)
        yield
        return
    with open(os.devnull, "w") as null:
        os.dup2(null.fileno(), 1)
        try:
            yield
        finally:
            sys.stdout.flush()
            os.dup2(fd, 1)
            os.close(fd)


def base_settings(ecm_gev: float, seed: int) -> list[str]:
    """Beam, seed and verbosity settings common to every process."""
    return [*QUIET_SETTINGS, f"Beams:eCM = {ecm_gev:g}", "Random:setSeed = on",
            f"Random:seed = {seed}"]


_FLAG_WORDS = {"on", "off", "yes", "no", "true", "false", "1", "0"}


def _flag_value_ok(pythia: Any, line: str) -> bool:
    """Pythia reads any unknown word as 'off' for a flag; we insist on a real on/off value."""
    name, sep, value = line.partition("=")
    if not sep or ":" not in name or not pythia.settings.isFlag(name.strip()):
        return True
    return value.strip().lower() in _FLAG_WORDS


# Settings whose value Pythia opens as a file (or, for frameType 4/5, that make it read one).
FILE_KEYS = ("beams:lhef", "beams:lhefheader", "slha:file", "pdf:pset", "pdf:psetb",
             "pdf:phardset", "pdf:phardsetb", "pdf:pomset", "pdf:gammaset", "pdf:pomsetb")
FILE_SUFFIXES = (".lhe", ".lhe.gz", ".slha", ".dat", ".xml", ".cmnd", ".lha", ".grid", ".gz")


def file_settings(settings: Sequence[str]) -> list[tuple[str, Path]]:
    """The raw Pythia settings of ``settings`` that make Pythia open a file, with the file.

    Known file keys (``Beams:LHEF``, ``SLHA:file``, PDF grid sets given as paths...), any key
    ending in ``file``, any value that looks like a path, and ``Beams:frameType = 4`` or ``5``
    (Les Houches input: the ``Beams:LHEF`` file, ``events.lhe`` by default).
    """
    out: list[tuple[str, Path]] = []
    lhef_given, les_houches = False, None
    for line in settings:
        key, _, value = (part.strip() for part in line.partition("="))
        lowered = key.lower()
        if lowered == "beams:frametype" and value.split(".")[0] in ("4", "5"):
            les_houches = line
            continue
        lhef_given |= lowered == "beams:lhef"
        looks_like_path = "/" in value or value.lower().endswith(FILE_SUFFIXES)
        named_file = lowered in ("beams:lhef", "beams:lhefheader", "slha:file") or (
            lowered.endswith("file") and bool(value))
        if looks_like_path or named_file:
            pdf_path = lowered in FILE_KEYS and lowered.startswith("pdf:")
            out.append((line, Path(value.split(":", 1)[-1] if pdf_path else value)))
    if les_houches is not None and not lhef_given:
        out.append((les_houches, Path("events.lhe")))
    return out


def make_pythia(settings: Sequence[str], *, init: bool = True) -> Any:
    """Create a ``pythia8mc.Pythia`` with ``settings`` read in order, initialized.

    Raises:
        ConfigError: naming the first setting Pythia rejects, or when ``init()`` fails.
    """
    import pythia8mc

    with silence_stdout():
        pythia = pythia8mc.Pythia("", False)
        for line in settings:
            if not pythia.readString(line) or not _flag_value_ok(pythia, line):
                msg = f"Pythia rejected the setting '{line}' (unknown name or invalid value)"
                raise ConfigError(msg)
        if init and not pythia.init():
            msg = ("Pythia initialization failed for settings: " + "; ".join(settings)
                   + " (inconsistent settings or vanishing cross section)")
            raise ConfigError(msg)
    return pythia


@dataclass(frozen=True)
class ParticleBatch:
    """Final-state particles of a batch of events, flattened.

    Attributes:
        px, py, pz, e: four-momenta in GeV, shape (n_particles,).
        pid: PDG ids, shape (n_particles,).
        charge: electric charge in units of e, shape (n_particles,).
        counts: particles per event, shape (n_events,).
        mhat_gev, pthat_gev, weight: per-event hard-process truth, shape (n_events,).
    """

    px: np.ndarray
    py: np.ndarray
    pz: np.ndarray
    e: np.ndarray
    pid: np.ndarray
    charge: np.ndarray
    counts: np.ndarray
    mhat_gev: np.ndarray
    pthat_gev: np.ndarray
    weight: np.ndarray

    @property
    def n_events(self) -> int:
        return len(self.counts)

    def select(self, keep: np.ndarray) -> ParticleBatch:
        """Keep the particles where the boolean mask ``keep`` (n_particles,) is true."""
        event_of = np.repeat(np.arange(self.n_events), self.counts)
        counts = np.bincount(event_of[keep], minlength=self.n_events)
        return ParticleBatch(self.px[keep], self.py[keep], self.pz[keep], self.e[keep],
                             self.pid[keep], self.charge[keep], counts, self.mhat_gev,
                             self.pthat_gev, self.weight)


def charges(pythia: Any, pid: np.ndarray) -> np.ndarray:
    """Charges (units of e) of PDG ids from Pythia's particle data, looked up once per id."""
    unique, inverse = np.unique(pid, return_inverse=True)
    table = np.array([pythia.particleData.charge(int(i)) for i in unique], dtype=np.float32)
    return table[inverse]


def next_batch(pythia: Any, n_events: int) -> ak.Array:
    """Generate ``n_events`` events with ``Pythia.nextBatch`` (failed events are skipped)."""
    with silence_stdout():
        return pythia.nextBatch(n_events, errorMode="skip")


def final_state(pythia: Any, run: ak.Array) -> ParticleBatch:
    """Visible final-state particles (status > 0, no neutrinos) of a ``nextBatch`` run."""
    prt = run.prt
    abs_id = np.abs(prt.id)
    visible = (abs_id != NEUTRINOS[0]) & (abs_id != NEUTRINOS[1]) & (abs_id != NEUTRINOS[2])
    fs = prt[(prt.status > 0) & visible]
    p = fs.p
    pid = ak.to_numpy(ak.flatten(fs.id)).astype(np.int32)
    info = run.info
    return ParticleBatch(
        px=ak.to_numpy(ak.flatten(p.px)),
        py=ak.to_numpy(ak.flatten(p.py)),
        pz=ak.to_numpy(ak.flatten(p.pz)),
        e=ak.to_numpy(ak.flatten(p.e)),
        pid=pid,
        charge=charges(pythia, pid),
        counts=ak.to_numpy(ak.num(fs, axis=1)).astype(np.int64),
        mhat_gev=ak.to_numpy(info.mHat).astype(np.float64),
        pthat_gev=np.sqrt(ak.to_numpy(info.pT2Hat).astype(np.float64)),
        weight=ak.to_numpy(ak.fill_none(ak.firsts(info.weights), 1.0)).astype(np.float64),
    )


def concatenate(batches: Sequence[ParticleBatch]) -> ParticleBatch:
    """Join particle batches event-wise, in order."""
    if len(batches) == 1:
        return batches[0]
    fields = ("px", "py", "pz", "e", "pid", "charge", "counts", "mhat_gev", "pthat_gev",
              "weight")
    return ParticleBatch(**{f: np.concatenate([getattr(b, f) for b in batches]) for f in fields})


def generate_batch(pythia: Any, n_events: int, sub_batch: int = 100,
                   timings: dict[str, float] | None = None) -> ParticleBatch:
    """Generate ``n_events`` events and return their visible final state.

    Events are pulled from Pythia ``sub_batch`` at a time: the full event record of a large
    batch (all ~2000 particles of every event, 14 fields) does not fit in the CPU caches, and
    with two workers the memory traffic slowed generation by ~20%. The events are the same
    whatever ``sub_batch`` is (one generator, drawn in sequence).
    """
    import time

    timings = timings if timings is not None else {}
    parts = []
    for start in range(0, n_events, sub_batch):
        t0 = time.perf_counter()
        run = next_batch(pythia, min(sub_batch, n_events - start))
        t1 = time.perf_counter()
        parts.append(final_state(pythia, run))
        timings["generation"] = timings.get("generation", 0.0) + t1 - t0
        timings["extraction"] = timings.get("extraction", 0.0) + time.perf_counter() - t1
    return concatenate(parts)


def sigma_gen_pb(pythia: Any) -> float:
    """Pythia's estimate of the generated cross section, in pb (NaN if unavailable)."""
    try:
        return float(pythia.infoPython().sigmaGen()) * 1.0e9  # mb -> pb
    except Exception:
        return float("nan")
