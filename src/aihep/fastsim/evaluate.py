"""Judge generated showers against reference showers with the CaloChallenge metrics."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from aihep import DEFAULT_SEED
from aihep.fastsim.geometry import CaloLayout
from aihep.fastsim.metrics import (
    ClassifierTestConfig,
    classifier_test,
    feature_separations,
    fpd,
    high_level_features,
    high_level_matrix,
    kpd,
    low_level_matrix,
)
from aihep.io.calo import ShowerSet


class EvaluationConfig(BaseModel):
    """Which metrics and how: the classifier test's protocol, FPD/KPD sample sizes."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    classifier: ClassifierTestConfig = Field(default_factory=ClassifierTestConfig)
    run_classifier: bool = True
    fpd_min_samples: int = Field(10_000, ge=100)
    kpd_batch_size: int = Field(10_000, ge=100)
    seed: int = DEFAULT_SEED


@dataclass(frozen=True)
class Evaluation:
    """The metrics of one generated sample against the reference."""

    n_reference: int
    n_generated: int
    separation: dict[str, float]
    fpd: tuple[float, float]
    kpd: tuple[float, float]
    classifier_low: dict[str, Any] | None = None
    classifier_high: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)
    reference_features: Any = field(default=None, repr=False)
    generated_features: Any = field(default=None, repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {"n_reference": self.n_reference, "n_generated": self.n_generated,
                "separation_power": self.separation,
                "fpd": {"value": self.fpd[0], "error": self.fpd[1]},
                "kpd": {"value": self.kpd[0], "error": self.kpd[1]},
                "classifier_low": self.classifier_low, "classifier_high": self.classifier_high,
                "notes": self.notes}


def evaluate(reference: ShowerSet, generated: ShowerSet, layout: CaloLayout,
             config: EvaluationConfig | None = None) -> Evaluation:
    """All metrics of ``generated`` against ``reference`` (both on ``layout``)."""
    config = config or EvaluationConfig()
    ref_f = high_level_features(reference.showers_mev, layout, layout.threshold_mev)
    gen_f = high_level_features(generated.showers_mev, layout, layout.threshold_mev)
    ref_h = high_level_matrix(ref_f, reference.incident_mev)
    gen_h = high_level_matrix(gen_f, generated.incident_mev)
    n = min(len(reference), len(generated))
    notes = []
    if n < 50_000:
        notes.append(f"FPD extrapolated in 1/N from {min(config.fpd_min_samples, n // 2)} to "
                     f"{n} showers (jetnet's default range: 20k-50k)")
    value_fpd = fpd(ref_h, gen_h, min_samples=config.fpd_min_samples, seed=config.seed)
    value_kpd = kpd(ref_h, gen_h, batch_size=config.kpd_batch_size, seed=config.seed)
    low = high = None
    if config.run_classifier:
        cls = config.classifier.model_copy(update={"seed": config.seed})
        low = classifier_test(low_level_matrix(reference.showers_mev, reference.incident_mev),
                              low_level_matrix(generated.showers_mev, generated.incident_mev),
                              cls).to_dict()
        high = classifier_test(ref_h, gen_h, cls).to_dict()
        notes.append("classifier AUCs from a reduced CPU protocol (standardized inputs, <= 30 "
                     "epochs): not comparable with the CaloChallenge's published numbers")
    separation = feature_separations(ref_f, gen_f, reference.incident_mev,
                                     generated.incident_mev)
    return Evaluation(len(reference), len(generated), separation, value_fpd, value_kpd, low,
                      high, notes, ref_f, gen_f)


def evaluate_files(reference: Path, generated: Path, layout: CaloLayout, out: Path,
                   config: EvaluationConfig | None = None, force: bool = False,
                   reporter: Callable[..., Any] | None = None) -> Evaluation:
    """Read two CaloChallenge files (checked against ``layout``), evaluate, write
    ``out/evaluation.json``, a manifest and, with a ``reporter`` (e.g.
    :func:`aihep.report.calo.write_calo_report`), ``out/report.html``."""
    from aihep._atomic import ensure_writable_dir, write_json_atomic
    from aihep.io.calo import read_showers
    from aihep.workflow.manifest import (
        build_manifest,
        claim_output_dir,
        file_entry,
        write_manifest,
    )

    config = config or EvaluationConfig()
    ref = read_showers(reference, n_voxels=layout.n_voxels)
    gen = read_showers(generated, n_voxels=layout.n_voxels)
    claim_output_dir(out, "aihep.calo.evaluate", force)
    result = evaluate(ref, gen, layout, config)
    directory = ensure_writable_dir(out)
    target = write_json_atomic(directory / "evaluation.json", result.to_dict())
    outputs = [file_entry(target, directory)]
    if reporter is not None:
        report = reporter(directory / "report.html", ref, gen, result, layout)
        outputs.append(file_entry(report, directory))
    write_manifest(directory, build_manifest(
        "aihep.calo.evaluate", config={"layout": layout.model_dump(mode="json"),
                                       **config.model_dump(mode="json")},
        seed=config.seed, inputs=[file_entry(reference), file_entry(generated)],
        outputs=outputs))
    return result
