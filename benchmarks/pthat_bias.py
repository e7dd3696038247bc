"""Measure the bias of the qcd-dijet pT-hat cut against the LHCO trigger.

Generates QCD with a looser cut (default pT-hat > 800 GeV), applies the LHCO trigger
(anti-kT R=1.0 jet with pT > 1.2 TeV, |eta| < 2.5), and reports the fraction of triggered
events with pT-hat below the default 1000 GeV cut (what that cut loses), plus the trigger
efficiency with the default cut.

Usage: python benchmarks/pthat_bias.py [--events 4000]
Writes benchmarks/results/pthat_bias.json.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import awkward as ak
import numpy as np
from common import write_result

from aihep.events import GenerationConfig, generate
from aihep.events.config import JetConfig
from aihep.workflow.executor import ExecutorConfig

ROOT = Path(__file__).resolve().parent
CACHE = ROOT.parent / ".cache" / "benchmarks"
TRIGGER_PT, TRIGGER_ETA = 1200.0, 2.5


def triggered(events: ak.Array) -> np.ndarray:
    lead = ak.fill_none(ak.firsts(events.jets.pt), 0.0)
    return ak.to_numpy(lead) > TRIGGER_PT


def run(pthat_min: float, n_events: int, workers: int) -> dict[str, float]:
    config = GenerationConfig(process="qcd-dijet", params={"pthat_min_gev": pthat_min},
                              n_events=n_events, seed=77,
                              jets=JetConfig(eta_max=TRIGGER_ETA, max_jets=2))
    result = generate(config, CACHE / f"pthat-{pthat_min:g}",
                      ExecutorConfig(kind="local", workers=workers), overwrite=True)
    events = result.read()
    passed = triggered(events)
    pthat = ak.to_numpy(events.pthat_gev)
    return {"pthat_min_gev": pthat_min, "generated": len(events),
            "trigger_efficiency": float(passed.mean()),
            "triggered": int(passed.sum()),
            "triggered_fraction_below_1000": float((pthat[passed] < 1000.0).mean()),
            "sigma_gen_pb": result.sigma_gen_pb}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=4000)
    parser.add_argument("--loose-cut", type=float, default=800.0)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    loose = run(args.loose_cut, args.events, args.workers)
    default = run(1000.0, args.events, args.workers)
    # Cross-section-weighted loss: triggered sigma below 1000 over all triggered sigma.
    sig_loose = loose["sigma_gen_pb"] * loose["trigger_efficiency"]
    sig_below = sig_loose * loose["triggered_fraction_below_1000"]
    result = {"benchmark": "pthat_bias", "loose": loose, "default": default,
              "lost_fraction_of_triggered": sig_below / sig_loose if sig_loose else None}
    (ROOT / "results").mkdir(exist_ok=True)
    write_result(ROOT / "results" / "pthat_bias.json", result)
    print("| pT-hat cut [GeV] | generated | trigger efficiency | triggered with pT-hat < 1000 |")
    print("|---|---|---|---|")
    for r in (loose, default):
        print(f"| {r['pthat_min_gev']:g} | {r['generated']} | {r['trigger_efficiency']:.3f} | "
              f"{r['triggered_fraction_below_1000']:.3f} |")


if __name__ == "__main__":
    main()
