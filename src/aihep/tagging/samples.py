"""What each tagging dataset is made of: Pythia samples, classes, jets and labelling.

=============  =============================================================================
dataset        classes and samples
=============  =============================================================================
``jetclass``   the ten JetClass classes at 13 TeV: QCD (hard QCD); H -> bb, cc, gg, 4q
               (WW* -> 4q), l nu q q' (WW*, one W forced to e/mu nu, half W+ and half W-)
               from Z(nu nu) H; t -> b q q' and t -> b l nu (l =
               e, mu) from t tbar; W -> q q' and Z -> q q from W/Z + jet. Anti-kT R = 0.8,
               jet pT 500-1000 GeV, |eta| < 2. A signal jet is labelled when all visible decay
               products of its resonance lie within delta-R < 0.8 of its axis.
``top``        top (t -> b q q') vs QCD, Top Tagging landscape kinematics: R = 0.8, pT
               550-650 GeV, |eta| < 2.
``flavour``    b, c and light jets (GN2-style) from Z' (1 TeV, 30% width) -> q qbar, q = d u s
               c b at 13 TeV: anti-kT R = 0.4, pT 200-500 GeV, |eta| < 2.5; labelled by the
               heaviest hadron (B, then C; pT > 5 GeV) within delta-R < 0.4 of the axis.
``ee-origin``  e+e- -> Z H at 240 GeV with Z -> nu nu and H -> q qbar (q = u d s c b) or g g
               (forced); exclusive e+e- kT into 2 jets; each jet takes the label of the
               H decay parton closest in angle (b, bbar, c, cbar, s, sbar, u, ubar, d, dbar, g)
               when that parton lies within 0.4 rad (jets matching the same parton dropped).
=============  =============================================================================
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from aihep.errors import ConfigError
from aihep.events.truth import LEPTONS, NEUTRINOS, Parton
from aihep.io.jets import JETCLASS_CLASSES

_HADRONIC = "1 2 3 4 5"
_TTBAR = ("Top:gg2ttbar = on", "Top:qqbar2ttbar = on")
STABLE_V0 = ("ParticleDecays:limitTau0 = on", "ParticleDecays:tau0Max = 10")


@dataclass(frozen=True)
class Sample:
    """A Pythia sample: settings, the resonance whose decays label jets, and the labeller."""

    name: str
    settings: tuple[str, ...]
    resonance: int | None  # None: every jet gets ``classes[0]``
    classes: tuple[str, ...]
    label: Callable[[list[Parton]], str | None] | None = None


def _quarks(partons: list[Parton]) -> int:
    return sum(1 for p in partons if abs(p.pid) <= 5)


def _leptons(partons: list[Parton]) -> int:
    return sum(1 for p in partons if abs(p.pid) in LEPTONS)


def _higgs(decay: str) -> Callable[[list[Parton]], str | None]:
    def label(partons: list[Parton]) -> str | None:
        ids = sorted(abs(p.pid) for p in partons)
        if decay == "Hbb" and ids == [5, 5]:
            return decay
        if decay == "Hcc" and ids == [4, 4]:
            return decay
        if decay == "Hgg" and ids == [21, 21]:
            return decay
        if decay == "H4q" and len(ids) == 4 and _quarks(partons) == 4:
            return decay
        if decay == "Hqql" and len(ids) == 4 and _quarks(partons) == 2 and _leptons(
                partons) == 1:
            return decay
        return None

    return label


def _top(partons: list[Parton]) -> str | None:
    ids = [abs(p.pid) for p in partons]
    if len(ids) != 3 or 5 not in ids:
        return None
    if _quarks(partons) == 3:
        return "Tbqq"
    if _leptons(partons) == 1 and any(i in NEUTRINOS for i in ids):
        return "Tbl"
    return None


def _boson(name: str) -> Callable[[list[Parton]], str | None]:
    return lambda partons: name if len(partons) == 2 and _quarks(partons) == 2 else None


def _zh(h_decay: list[str]) -> tuple[str, ...]:
    return ("HiggsSM:ffbar2HZ = on", "23:onMode = off", "23:onIfAny = 12 14 16",
            "25:onMode = off", *h_decay)


def jetclass_samples(pthat_min_gev: float) -> list[Sample]:
    """The ten JetClass-style samples (see the module docstring)."""
    cut = f"PhaseSpace:pTHatMin = {pthat_min_gev:g}"
    ww = ["25:onIfAll = 24 -24"]
    return [
        Sample("QCD", ("HardQCD:all = on", cut), None, ("QCD",)),
        Sample("Hbb", (*_zh(["25:onIfAll = 5 -5"]), cut), 25, ("Hbb",), _higgs("Hbb")),
        Sample("Hcc", (*_zh(["25:onIfAll = 4 -4"]), cut), 25, ("Hcc",), _higgs("Hcc")),
        Sample("Hgg", (*_zh(["25:onIfAll = 21 21"]), cut), 25, ("Hgg",), _higgs("Hgg")),
        Sample("H4q", (*_zh(ww), "24:onMode = off", f"24:onIfAny = {_HADRONIC}", cut), 25,
               ("H4q",), _higgs("H4q")),
        # H -> W W* -> l nu q q': one W forced leptonic, in two charge-conjugate samples
        *(Sample(f"Hqql{sign}", (*_zh(ww), "24:onMode = off", f"24:on{lep}IfAny = 11 13",
                                 f"24:on{had}IfAny = {_HADRONIC}", cut), 25, ("Hqql",),
                 _higgs("Hqql"))
          for sign, lep, had in (("P", "Pos", "Neg"), ("M", "Neg", "Pos"))),
        Sample("Tbqq", (*_TTBAR, "24:onMode = off", f"24:onIfAny = {_HADRONIC}", cut), 6,
               ("Tbqq",), _top),
        Sample("Tbl", (*_TTBAR, "24:onMode = off", "24:onIfAny = 11 13", cut), 6, ("Tbl",),
               _top),
        Sample("Wqq", ("WeakBosonAndParton:qqbar2Wg = on", "WeakBosonAndParton:qg2Wq = on",
                       "24:onMode = off", f"24:onIfAny = {_HADRONIC}", cut), 24, ("Wqq",),
               _boson("Wqq")),
        Sample("Zqq", ("WeakBosonAndParton:qqbar2gmZg = on", "WeakBosonAndParton:qg2gmZq = on",
                       "WeakZ0:gmZmode = 2", "23:onMode = off", f"23:onIfAny = {_HADRONIC}",
                       cut), 23, ("Zqq",), _boson("Zqq")),
    ]


def top_samples(pthat_min_gev: float) -> list[Sample]:
    """Top tagging: hadronic tops from t tbar against QCD jets."""
    cut = f"PhaseSpace:pTHatMin = {pthat_min_gev:g}"
    return [Sample("QCD", ("HardQCD:all = on", cut), None, ("QCD",)),
            Sample("Top", (*_TTBAR, "24:onMode = off",
                           f"24:onIfAny = {_HADRONIC}", cut), 6, ("Top",),
                   lambda p: "Top" if _top(p) == "Tbqq" else None)]


def flavour_samples(pthat_min_gev: float) -> list[Sample]:
    """Z' -> q qbar with every light and heavy flavour (labels from hadrons in the jet)."""
    return [Sample("Zprime", ("NewGaugeBoson:ffbar2gmZZprime = on", "Zprime:gmZmode = 3",
                              "32:m0 = 1000", "32:doForceWidth = on", "32:mWidth = 300",
                              "32:mMin = 400", "32:mMax = 1600", "32:onMode = off",
                              f"32:onIfAny = {_HADRONIC}"), None, ("light", "c", "b"))]


EE_CLASSES = ("b", "bbar", "c", "cbar", "s", "sbar", "u", "ubar", "d", "dbar", "g")
_EE_BEAMS = ("Beams:idA = 11", "Beams:idB = -11", "PDF:lepton = off")


def ee_origin_samples(pthat_min_gev: float) -> list[Sample]:
    """e+e- -> Z(nu nu) H(q qbar / g g) at 240 GeV, one sample per forced H decay."""
    decays = {"Hbb": "5 -5", "Hcc": "4 -4", "Hss": "3 -3", "Huu": "2 -2", "Hdd": "1 -1",
              "Hgg": "21 21"}
    names = {"Hbb": ("b", "bbar"), "Hcc": ("c", "cbar"), "Hss": ("s", "sbar"),
             "Huu": ("u", "ubar"), "Hdd": ("d", "dbar"), "Hgg": ("g",)}
    # oneChannel sets a branching ratio of 1: u u and d d have none in the SM table
    return [Sample(name, (*_EE_BEAMS, "HiggsSM:ffbar2HZ = on", "23:onMode = off",
                          "23:onIfAny = 12 14 16", f"25:oneChannel = 1 1.0 100 {products}"),
                   25, names[name]) for name, products in decays.items()]


def parton_label(pid: int) -> str:
    """Jet-origin label of a parton: b, bbar, ..., d, dbar, g."""
    if pid == 21:
        return "g"
    letter = {1: "d", 2: "u", 3: "s", 4: "c", 5: "b"}[abs(pid)]
    return letter if pid > 0 else f"{letter}bar"


@dataclass(frozen=True)
class DatasetKind:
    """How a tagging dataset is built (see the module docstring)."""

    name: str
    classes: tuple[str, ...]
    samples: Callable[[float], list[Sample]]
    pthat_gev: float = 450.0
    ecm_gev: float = 13000.0
    pt_range_gev: tuple[float, float] = (500.0, 1000.0)
    eta_max: float = 2.0
    radius: float = 0.8
    clustering: Literal["antikt", "ee_kt_2"] = "antikt"
    labelling: Literal["resonance", "hadron", "parton"] = "resonance"
    match_radius: float = 0.8
    background: str = "QCD"


KINDS = {
    "jetclass": DatasetKind("jetclass", JETCLASS_CLASSES, jetclass_samples),
    "top": DatasetKind("top", ("QCD", "Top"), top_samples, pthat_gev=500.0,
                       pt_range_gev=(550.0, 650.0)),
    "flavour": DatasetKind("flavour", ("light", "c", "b"), flavour_samples, pthat_gev=0.0,
                           pt_range_gev=(200.0, 500.0), eta_max=2.5, radius=0.4,
                           labelling="hadron", match_radius=0.4, background="light"),
    "ee-origin": DatasetKind("ee-origin", EE_CLASSES, ee_origin_samples, pthat_gev=0.0,
                             ecm_gev=240.0, pt_range_gev=(10.0, 130.0), eta_max=3.0,
                             radius=0.0, clustering="ee_kt_2", labelling="parton",
                             match_radius=0.4, background="g"),
}


def get_kind(name: str) -> DatasetKind:
    """A dataset kind by name; unknown names raise :class:`ConfigError` listing the known."""
    try:
        return KINDS[name]
    except KeyError:
        msg = f"unknown tagging dataset '{name}'; known: {', '.join(KINDS)}"
        raise ConfigError(msg) from None
