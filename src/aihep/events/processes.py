"""Registry of named Pythia 8 processes: physics, default settings and what each is for.

Each process turns a few physics parameters (masses in GeV, cuts) into Pythia setting strings.
Any raw Pythia setting can be appended by the user (``--set "PartonLevel:MPI = off"``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from aihep.errors import ConfigError

_HADRONIC_W = ["24:onMode = off", "24:onIfAny = 1 2 3 4 5"]


@dataclass(frozen=True)
class Process:
    """A named Pythia 8 process.

    Attributes:
        name: registry key, e.g. ``"qcd-dijet"``.
        summary: one line.
        description: physics, defaults, what it is for, known biases.
        label: truth label written for its events (1 = signal-like, 0 = background).
        params: physics parameters with defaults (GeV for masses and momenta).
        settings_fn: maps the parameters to Pythia setting strings.
    """

    name: str
    summary: str
    description: str
    label: int
    params: Mapping[str, float]
    settings_fn: Callable[[Mapping[str, float]], list[str]] = field(repr=False)

    def resolve_params(self, overrides: Mapping[str, float] | None = None) -> dict[str, float]:
        """Defaults updated with ``overrides``; unknown names raise :class:`ConfigError`."""
        overrides = dict(overrides or {})
        unknown = sorted(set(overrides) - set(self.params))
        if unknown:
            msg = (f"process '{self.name}' has no parameter {', '.join(unknown)}; "
                   f"known: {', '.join(self.params) or '(none)'}")
            raise ConfigError(msg)
        return {**self.params, **{k: float(v) for k, v in overrides.items()}}

    def settings(self, params: Mapping[str, float] | None = None) -> list[str]:
        """Pythia setting strings for this process (without beams, seeds or user extras)."""
        return self.settings_fn(self.resolve_params(params))


def _qcd_dijet(p: Mapping[str, float]) -> list[str]:
    return ["HardQCD:all = on", f"PhaseSpace:pTHatMin = {p['pthat_min_gev']:g}"]


def _wprime_xy(p: Mapping[str, float]) -> list[str]:
    # The W' -> W Z channel with W and Z retuned to the X and Y masses and forced narrow widths:
    # an exotic addChannel on a Z' gives vanishing cross sections in Pythia, this route works.
    mw, mx, my, frac = p["m_wprime_gev"], p["m_x_gev"], p["m_y_gev"], p["width_fraction"]
    if min(mw, mx, my) <= 0 or mx + my >= mw:
        msg = (f"wprime-xy: needs 0 < m_x_gev + m_y_gev < m_wprime_gev for the decay W' -> X Y "
               f"(got m_x_gev={mx:g}, m_y_gev={my:g}, m_wprime_gev={mw:g})")
        raise ConfigError(msg)
    return [
        "NewGaugeBoson:ffbar2Wprime = on",
        "Wprime:coup2WZ = 1",  # default 0: the W' -> W Z channel would have no width
        f"34:m0 = {mw:g}", "34:doForceWidth = on", f"34:mWidth = {frac * mw:g}",
        f"34:mMin = {0.5 * mw:g}", f"34:mMax = {1.5 * mw:g}",
        "34:onMode = off",
        "34:onIfAll = 23 24",
        f"24:m0 = {mx:g}", "24:doForceWidth = on", f"24:mWidth = {frac * mx:g}",
        f"24:mMin = {0.5 * mx:g}", f"24:mMax = {1.5 * mx:g}",
        *_HADRONIC_W,
        f"23:m0 = {my:g}", "23:doForceWidth = on", f"23:mWidth = {frac * my:g}",
        f"23:mMin = {0.5 * my:g}", f"23:mMax = {1.5 * my:g}",
        "23:onMode = off", "23:onIfAny = 1 2 3 4 5",
    ]


def _ttbar(p: Mapping[str, float]) -> list[str]:
    return ["Top:gg2ttbar = on", "Top:qqbar2ttbar = on",
            f"PhaseSpace:pTHatMin = {p['pthat_min_gev']:g}", *_HADRONIC_W]


def _ttbar_semileptonic(p: Mapping[str, float]) -> list[str]:
    # the W+ (from the top) to e or mu and a neutrino, the W- (from the antitop) to quarks
    return ["Top:gg2ttbar = on", "Top:qqbar2ttbar = on",
            f"PhaseSpace:pTHatMin = {p['pthat_min_gev']:g}", "24:onMode = off",
            "24:onPosIfAny = 11 13", "24:onNegIfAny = 1 2 3 4 5"]


def _tth_bb(p: Mapping[str, float]) -> list[str]:
    return ["HiggsSM:gg2Httbar = on", "HiggsSM:qqbar2Httbar = on", "25:onMode = off",
            "25:onIfMatch = 5 -5", f"25:m0 = {p['m_higgs_gev']:g}", *_HADRONIC_W]


def _qcd_multijet(p: Mapping[str, float]) -> list[str]:
    return ["HardQCD:all = on", f"PhaseSpace:pTHatMin = {p['pthat_min_gev']:g}"]


def _zprime_tt(p: Mapping[str, float]) -> list[str]:
    return [
        "NewGaugeBoson:ffbar2gmZZprime = on",
        "Zprime:gmZmode = 3",  # pure Z', no gamma*/Z interference
        f"32:m0 = {p['m_zprime_gev']:g}",
        "32:onMode = off",
        "32:onIfAny = 6",
        *_HADRONIC_W,
    ]


PROCESSES: dict[str, Process] = {
    proc.name: proc
    for proc in [
        Process(
            name="qcd-dijet",
            summary="Hard QCD 2->2 (the dijet background), pT-hat cut for the 1.2 TeV jet trigger.",
            description=(
                "All hard QCD 2->2 processes (HardQCD:all) at sqrt(s) = 13 TeV with MPI and "
                "hadronization. PhaseSpace:pTHatMin defaults to 1000 GeV: measured here, about 40% "
                "of the generated events pass the LHCO trigger (a R=1.0 jet with pT > 1.2 TeV), "
                "but the cut loses the 15-20% of triggered events that come from pT-hat < 1 TeV, "
                "mostly at low mjj near the trigger turn-on. Use the same cut for data and "
                "reference samples so the bias cancels; lower it (pthat_min_gev) to study it."
            ),
            label=0,
            params={"pthat_min_gev": 1000.0},
            settings_fn=_qcd_dijet,
        ),
        Process(
            name="wprime-xy",
            summary="W' -> X Y, X -> q q, Y -> q q (LHC Olympics 2020 R&D signal).",
            description=(
                "Resonant dijet signal of the LHC Olympics 2020 R&D dataset: q q' -> W' -> X Y "
                "with both X and Y decaying to light quarks (d, u, s, c, b), giving two boosted "
                "two-prong jets. Implemented as W' -> W Z with the W and Z masses set to mX "
                "and mY and "
                "narrow forced widths (width_fraction x mass, also for the W', whose computed "
                "width with the W Z coupling on is ~5% and, times the steep parton luminosity, "
                "puts a third of the events far below the peak). Masses are generated within "
                "0.5-1.5 x the pole mass. Defaults: mW' = 3500, mX = 500, mY = 100 GeV."
            ),
            label=1,
            params={"m_wprime_gev": 3500.0, "m_x_gev": 500.0, "m_y_gev": 100.0,
                    "width_fraction": 0.01},
            settings_fn=_wprime_xy,
        ),
        Process(
            name="ttbar",
            summary="Top-pair production, fully hadronic (W -> q q').",
            description=(
                "g g -> t tbar and q qbar -> t tbar with both W bosons forced to quarks: six-jet "
                "final states and boosted three-prong top jets at high pT-hat (pthat_min_gev, "
                "default 0). A background for resonance searches and a source of top jets."
            ),
            label=0,
            params={"pthat_min_gev": 0.0},
            settings_fn=_ttbar,
        ),
        Process(
            name="ttbar-semileptonic",
            summary="Top-pair production, t -> b l+ nu (l = e, mu), tbar -> b q q'.",
            description=(
                "g g -> t tbar and q qbar -> t tbar with the W+ forced to e+ nu or mu+ nu and "
                "the W- to quarks: one lepton, missing energy and four jets (two b). The "
                "charge is fixed (the lepton is always positive) so the neutrino and the "
                "leptonic top are known at truth level; for event-level models."
            ),
            label=0,
            params={"pthat_min_gev": 0.0},
            settings_fn=_ttbar_semileptonic,
        ),
        Process(
            name="tth-bb",
            summary="t tbar H, H -> b bbar, both W -> q q' (all hadronic, eight partons).",
            description=(
                "g g / q qbar -> t tbar H with the Higgs boson (m_higgs_gev, default 125) "
                "forced to b bbar and both W bosons to quarks: eight-parton final states with "
                "four b quarks; the signal of ttH(bb) against the ttbar background in "
                "event-level classification."
            ),
            label=1,
            params={"m_higgs_gev": 125.0},
            settings_fn=_tth_bb,
        ),
        Process(
            name="qcd-multijet",
            summary="Hard QCD 2->2 at moderate pT-hat: the multijet background.",
            description=(
                "All hard QCD 2->2 processes with PhaseSpace:pTHatMin = pthat_min_gev "
                "(default 250 GeV); extra jets come from the parton shower: a >= 6-jet "
                "selection (R = 0.4, pT > 25 GeV) keeps about 10% of the events (1% at "
                "100 GeV)."
            ),
            label=0,
            params={"pthat_min_gev": 250.0},
            settings_fn=_qcd_multijet,
        ),
        Process(
            name="zprime-tt",
            summary="Z' -> t tbar, fully hadronic: boosted top jets.",
            description=(
                "f fbar -> Z' (no gamma*/Z interference) -> t tbar with hadronic W decays. "
                "With the default mZ' = 2000 GeV both tops are boosted (pT ~ 0.5-1 TeV): the "
                "standard "
                "source of top jets for top-tagging studies."
            ),
            label=1,
            params={"m_zprime_gev": 2000.0},
            settings_fn=_zprime_tt,
        ),
    ]
}


def get_process(name: str) -> Process:
    """Look up a process by name; unknown names raise :class:`ConfigError` listing the known."""
    try:
        return PROCESSES[name]
    except KeyError:
        msg = f"unknown process '{name}'; known processes: {', '.join(PROCESSES)}"
        raise ConfigError(msg) from None
