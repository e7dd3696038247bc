"""LHC Olympics-style resonance-search datasets: QCD dijets + injected W' -> X Y signal.

The trigger is the LHCO one: a leading anti-kT R = 1.0 jet with pT > 1.2 TeV and |eta| < 2.5
(and two jets, each with at least two constituents so that tau21 is defined: single-particle
"jets" occur in ~5 of 100k QCD events). Background, signal and a background-only reference
sample are generated with independent seeds derived from the master seed and the same
qcd-dijet pT-hat cut.

Output directory::

    OUT/background/ OUT/signal/ OUT/reference/   event stores (see aihep.io.eventstore)
    OUT/data.parquet       features + label + source ids of the mixed, shuffled data sample
    OUT/reference.parquet  features of the reference sample
    OUT/data.csv, OUT/data_labels.csv, OUT/reference.csv   the LHCO feature CSV layout
    OUT/manifest.json, OUT/report.html
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from aihep import DEFAULT_SEED
from aihep._atomic import ensure_writable_dir, write_atomic
from aihep.events.config import DetectorConfig, GenerationConfig, JetConfig, SelectionConfig
from aihep.events.factory import GenerationResult, ProgressFn, generate
from aihep.events.features import (
    EXTRA_FEATURES,
    FEATURES,
    dijet_features,
    features_from_events,
)
from aihep.io.lhco import read_lhco_jets_h5, write_feature_csv, write_labels_csv
from aihep.workflow import seeds
from aihep.workflow.executor import ExecutorConfig
from aihep.workflow.manifest import build_manifest, file_entry, write_manifest


class LHCOConfig(BaseModel):
    """An LHCO-style dataset. Counts are events passing the trigger.

    Give ``n_signal`` or ``s_over_b`` (signal / background in the whole spectrum); with
    neither, S/B = 1%.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    n_background: int = Field(20_000, gt=0)
    n_signal: int | None = Field(None, ge=0)
    s_over_b: float | None = Field(None, ge=0)
    n_reference: int = Field(20_000, ge=0)
    m_wprime_gev: float = Field(3500.0, gt=0)
    m_x_gev: float = Field(500.0, gt=0)
    m_y_gev: float = Field(100.0, gt=0)
    pthat_min_gev: float = Field(1000.0, ge=0, description="qcd-dijet cut, data and reference")
    trigger_pt_min_gev: float = Field(1200.0, ge=0)
    trigger_eta_max: float = Field(2.5, gt=0)
    jet_radius: float = Field(1.0, gt=0)
    detector: DetectorConfig = Field(default_factory=DetectorConfig)
    seed: int = Field(DEFAULT_SEED, ge=0)
    chunk_size: int = Field(1000, ge=1)

    @model_validator(mode="after")
    def _one_signal_spec(self) -> LHCOConfig:
        if self.n_signal is not None and self.s_over_b is not None:
            msg = "give either n_signal or s_over_b, not both"
            raise ValueError(msg)
        if self.m_x_gev + self.m_y_gev >= self.m_wprime_gev:
            msg = (f"m_x_gev + m_y_gev must be below m_wprime_gev for W' -> X Y (got "
                   f"{self.m_x_gev:g} + {self.m_y_gev:g} >= {self.m_wprime_gev:g})")
            raise ValueError(msg)
        return self

    @property
    def signal_count(self) -> int:
        """Number of injected signal events."""
        if self.n_signal is not None:
            return self.n_signal
        ratio = 0.01 if self.s_over_b is None else self.s_over_b
        return round(ratio * self.n_background)

    def generation(self, role: str) -> GenerationConfig | None:
        """The generation config of one sample: ``background``, ``signal`` or ``reference``."""
        n = {"background": self.n_background, "signal": self.signal_count,
             "reference": self.n_reference}[role]
        if n == 0:
            return None
        if role == "signal":
            process = "wprime-xy"
            params = {"m_wprime_gev": self.m_wprime_gev, "m_x_gev": self.m_x_gev,
                      "m_y_gev": self.m_y_gev}
        else:
            process, params = "qcd-dijet", {"pthat_min_gev": self.pthat_min_gev}
        return GenerationConfig(
            process=process, params=params, n_events=n, seed=seeds.derive_seed(self.seed, role),
            chunk_size=self.chunk_size, detector=self.detector,
            jets=JetConfig(radius=self.jet_radius, eta_max=self.trigger_eta_max, max_jets=2),
            selection=SelectionConfig(min_jets=2, leading_jet_pt_min_gev=self.trigger_pt_min_gev,
                                      min_jet_constituents=2),
        )


ROLES = ("background", "signal", "reference")


@dataclass(frozen=True)
class LHCODataset:
    """Paths and counts of a built LHCO-style dataset."""

    directory: Path
    n_background: int
    n_signal: int
    n_reference: int
    samples: dict[str, GenerationResult]
    report: Path | None

    @property
    def data_path(self) -> Path:
        return self.directory / "data.parquet"

    @property
    def reference_path(self) -> Path | None:
        """The reference features, or None when none was generated (``n_reference = 0``)."""
        return self.directory / "reference.parquet" if self.n_reference else None

    def to_dict(self) -> dict[str, Any]:
        return {"directory": str(self.directory), "n_background": self.n_background,
                "n_signal": self.n_signal, "n_reference": self.n_reference,
                "data": str(self.data_path),
                "reference": str(self.reference_path) if self.reference_path else None,
                "report": str(self.report) if self.report else None,
                "samples": {k: v.to_dict() for k, v in self.samples.items()}}


def _write_parquet(path: Path, columns: dict[str, np.ndarray]) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table(columns)
    return write_atomic(path, lambda p: pq.write_table(table, p, compression="zstd"))


def read_feature_table(path: str | Path) -> dict[str, np.ndarray]:
    """Read a feature Parquet file written by :func:`build_lhco_dataset` as numpy columns."""
    import pyarrow.parquet as pq

    from aihep.errors import InputError

    path = Path(path)
    try:
        table = pq.read_table(path)
    except (OSError, ValueError) as exc:
        raise InputError(path, "file", f"a Parquet feature table ({exc})") from None
    return {name: table[name].to_numpy() for name in table.column_names}


def build_lhco_dataset(
    config: LHCOConfig,
    out: str | Path,
    executor: ExecutorConfig | None = None,
    progress: Callable[[str], ProgressFn | None] | None = None,
    overwrite: bool = False,
    reporter: Callable[..., Path] | None = None,
    force: bool = False,
) -> LHCODataset:
    """Generate background, signal and reference samples and export LHCO-style features.

    Args:
        config: counts, masses, trigger, detector, seed.
        out: output directory (see module docstring).
        executor: where the generation chunks run.
        progress: ``progress(role)`` returns a per-sample progress callback (or None).
        overwrite: discard previous runs in ``out``.
        reporter: draws ``report.html`` with the standard plots, called as
            ``reporter(out, data, reference, config)`` (the CLI passes
            :func:`aihep.report.lhco.write_lhco_report`); none without it.
    """
    from aihep.events.factory import validate
    from aihep.workflow.manifest import claim_output_dir

    claim_output_dir(out, "aihep.lhco", force or overwrite, strict=False)
    for role in ROLES:  # every sample's settings before any event (the signal comes second)
        if (gen := config.generation(role)) is not None:
            validate(gen)
    directory = ensure_writable_dir(out)
    samples: dict[str, GenerationResult] = {}
    for role in ROLES:
        gen = config.generation(role)
        if gen is None:
            continue
        samples[role] = generate(gen, directory / role, executor,
                                 progress(role) if progress else None, overwrite=overwrite)

    tables: dict[str, dict[str, np.ndarray]] = {}
    for role, result in samples.items():
        events = result.read()
        feats = features_from_events(events, str(result.directory))
        feats = {k: feats[k] for k in (*FEATURES, *EXTRA_FEATURES)}
        feats["label"] = ak.to_numpy(events.label).astype(np.int8)
        feats["event_id"] = ak.to_numpy(events.event_id)
        feats["mhat_gev"] = ak.to_numpy(events.mhat_gev)
        tables[role] = feats

    mixed = [tables[r] for r in ("background", "signal") if r in tables]
    data = {k: np.concatenate([t[k] for t in mixed]) for k in mixed[0]}
    order = seeds.rng(config.seed, "shuffle").permutation(len(data["mjj"]))
    data = {k: v[order] for k, v in data.items()}
    _write_parquet(directory / "data.parquet", data)
    write_feature_csv(directory / "data.csv", data)
    write_labels_csv(directory / "data_labels.csv", data["label"])
    outputs = ["data.parquet", "data.csv", "data_labels.csv"]
    if "reference" in tables:
        _write_parquet(directory / "reference.parquet", tables["reference"])
        write_feature_csv(directory / "reference.csv", tables["reference"])
        outputs += ["reference.parquet", "reference.csv"]

    report_path = None
    if reporter is not None:
        report_path = reporter(directory, data, tables.get("reference"), config)
        outputs.append(report_path.name)

    inputs = [file_entry(r.directory / "manifest.json", directory, role=role)
              for role, r in samples.items()]
    manifest = build_manifest(
        "aihep.lhco", config=config.model_dump(mode="json"), seed=config.seed,
        inputs=inputs, outputs=[file_entry(directory / name, directory) for name in outputs],
        counts={"n_background": config.n_background, "n_signal": config.signal_count,
                "n_reference": config.n_reference, "n_data": len(data["mjj"])},
    )
    write_manifest(directory, manifest)
    return LHCODataset(directory, config.n_background, config.signal_count, config.n_reference,
                       samples, report_path)


def read_lhco_features_h5(path: str | Path) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Read ``events_anomalydetection_v2.features.h5`` into mass-ordered dijet features.

    Returns:
        (features, labels): see :func:`aihep.events.features.dijet_features`; labels int8,
        -1 when the file has no ``label`` column.
    """
    jets, labels = read_lhco_jets_h5(path)
    return dijet_features(*jets), labels
