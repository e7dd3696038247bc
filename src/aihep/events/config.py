"""Configuration of the event factory (pydantic; JSON/YAML round trip; units in field names)."""

from __future__ import annotations

import hashlib
import json
from typing import Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator

from aihep import DEFAULT_SEED
from aihep.errors import ConfigError


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DetectorConfig(_Config):
    """Parametric detector response (CMS-like numbers), or ``kind="truth"`` for none.

    Charged particles inside the tracker are measured as tracks with
    sigma(pT)/pT = track_res_const (+) track_res_per_gev * pT; photons and untracked electrons
    in the ECAL with sigma(E)/E = ecal_stochastic/sqrt(E) (+) ecal_const; all other visible
    particles (neutral hadrons, charged particles outside the tracker) in the HCAL with
    sigma(E)/E = hcal_stochastic/sqrt(E) (+) hcal_const ((+): sum in quadrature, E in GeV).
    Energies are smeared with a log-normal of that relative width (never negative); directions
    are kept. Neutrinos are never seen; with ``kind="truth"`` nothing else is changed.
    """

    kind: Literal["simple", "truth"] = "simple"
    tracker_eta_max: float = Field(2.5, gt=0)
    track_pt_min_gev: float = Field(0.5, ge=0)
    track_efficiency: float = Field(0.95, ge=0, le=1)
    track_res_const: float = Field(0.005, ge=0)
    track_res_per_gev: float = Field(1.0e-4, ge=0)
    ecal_eta_max: float = Field(3.0, gt=0)
    ecal_e_min_gev: float = Field(0.5, ge=0)
    ecal_stochastic: float = Field(0.05, ge=0)
    ecal_const: float = Field(0.005, ge=0)
    hcal_eta_max: float = Field(4.9, gt=0)
    hcal_e_min_gev: float = Field(1.0, ge=0)
    hcal_stochastic: float = Field(1.0, ge=0)
    hcal_const: float = Field(0.05, ge=0)


class JetConfig(_Config):
    """FastJet clustering and substructure.

    Jets with pT > pt_min_gev and |eta| < eta_max are kept, pT-ordered, at most ``max_jets``
    per event, each with at most ``max_constituents`` pT-ordered constituents (substructure
    uses all constituents). N-subjettiness tau_1..3: beta = 1, one-pass exclusive-kT axes,
    normalized by sum(pT) * R, in (rapidity, phi). Soft-drop mass: C/A declustering with
    z_cut = softdrop_zcut, beta = softdrop_beta, R0 = radius.
    """

    algorithm: Literal["antikt", "kt", "cambridge"] = "antikt"
    radius: float = Field(1.0, gt=0, le=3.0)
    pt_min_gev: float = Field(50.0, ge=0)
    eta_max: float = Field(2.5, gt=0)
    max_jets: int = Field(2, ge=1)
    max_constituents: int = Field(200, ge=1)
    softdrop_zcut: float = Field(0.1, ge=0, lt=1)
    softdrop_beta: float = 0.0


class SelectionConfig(_Config):
    """Event selection applied before writing (a trigger). Defaults select everything.

    ``min_jet_constituents`` requires every kept jet to have that many constituents; 2 makes
    tau21 defined (a single-particle jet has tau1 = 0).
    """

    min_jets: int = Field(0, ge=0)
    leading_jet_pt_min_gev: float = Field(0.0, ge=0)
    min_jet_constituents: int = Field(0, ge=0)


class GenerationConfig(_Config):
    """Everything that determines a generated dataset.

    ``n_events`` counts written (selected) events. Events are produced in chunks of
    ``chunk_size`` generated events, each seeded from (seed, chunk index) alone, so the content
    does not depend on the number of workers.
    """

    process: str
    params: dict[str, float] = Field(default_factory=dict)
    settings: list[str] = Field(default_factory=list, description="extra raw Pythia settings")
    n_events: int = Field(..., description="events to write (after selection)")
    seed: int = Field(DEFAULT_SEED, ge=0)
    ecm_gev: float = Field(13000.0, gt=0)
    chunk_size: int = Field(1000, ge=1, le=1_000_000)
    detector: DetectorConfig = Field(default_factory=DetectorConfig)
    jets: JetConfig = Field(default_factory=JetConfig)
    selection: SelectionConfig = Field(default_factory=SelectionConfig)

    @field_validator("n_events")
    @classmethod
    def _positive(cls, value: int) -> int:
        if value <= 0:
            msg = f"number of events must be positive, got {value}"
            raise ValueError(msg)
        return value

    def chunk_key(self) -> str:
        """Hash of everything that shapes a chunk's content (all fields except ``n_events``)."""
        payload = self.model_dump(mode="json", exclude={"n_events"})
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


_Model = TypeVar("_Model", bound=BaseModel)


def validated(model: type[_Model], **values: object) -> _Model:
    """Build a config, turning pydantic's validation error into one :class:`ConfigError` line."""
    from pydantic import ValidationError

    try:
        return model(**values)
    except ValidationError as exc:
        parts = [f"{'.'.join(str(x) for x in e['loc'])}: {e['msg']}" for e in exc.errors()]
        msg = f"invalid {model.__name__}: " + "; ".join(parts)
        raise ConfigError(msg) from None
