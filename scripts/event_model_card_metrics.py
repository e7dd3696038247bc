"""The metrics of the event-model card from benchmarks/results/event_model.json.

Usage: python scripts/event_model_card_metrics.py [--results FILE] OUT.json

Then: ``aihep models register RUN --name event-model-pretrained --metrics OUT.json
--benchmark-commit COMMIT`` with RUN the benchmark's pretrained run
(``multitask.pretrained_run``) and COMMIT its commit (``multitask.pretrain_commit``).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parents[1] / "benchmarks" / "results" / "event_model.json"


def card_metrics(results: dict) -> dict:
    mt = results["multitask"]
    out = {"auc_tth_vs_ttbar (pretrained body)": round(mt["pretrained_auc_tth_vs_ttbar"], 4),
           "auc_ttbar_vs_qcd (pretrained body)": round(mt["pretrained_auc_ttbar_vs_qcd"], 4),
           "assignment_efficiency_6jet (pretrained body, all-hadronic, no all-hadronic label)":
               round(mt["pretrained_assignment_efficiency_6jet"], 4)}
    for name, value in mt["pretrained_regression_resolution_gev"].items():
        out[f"resolution_{name}_gev (semileptonic ttbar)"] = round(value, 2)
    out["pretrain_events"] = mt["pretrain_events"]
    out["pretrain_tasks"] = ", ".join(mt["pretrain_tasks"])
    out["pretrain_cpu_minutes"] = round(mt["pretrain_cpu_minutes"], 2)
    out["train_events_per_second (1 thread)"] = round(mt["train_events_per_second"])
    out["inference_events_per_second (1 thread)"] = round(mt["inference_events_per_second"])
    rows = results["finetune"]
    # fine-tunings of *this* checkpoint: the recipe rows share the pretraining's commit;
    # the main table's pretrained rows came from an earlier pretraining run
    this_run = [r for r in results.get("finetune_recipes", [])
                if r.get("commit") == mt.get("pretrain_commit")]
    for task in ("assignment", "classification"):
        for fraction in (0.01, 0.1, 1.0):
            mine = [r["score"] for r in this_run if r["task"] == task
                    and r["fraction"] == fraction and r["learning_rate"] == 1e-3]
            if mine:
                out[f"finetune_{task}_{fraction:.0%}_this_checkpoint (lr 1e-3, mean of "
                    f"{len(mine)} seeds)"] = round(float(np.mean(mine)), 4)
            for flag, word in ((True, "pretrained_earlier_run"), (False, "scratch")):
                if flag and mine:
                    continue
                s = [r["score"] for r in rows if r["task"] == task
                     and r["fraction"] == fraction and r["pretrained"] == flag]
                if s:
                    out[f"finetune_{task}_{fraction:.0%}_{word} (mean of {len(s)} seeds)"] = \
                        round(float(np.mean(s)), 4)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args()
    metrics = card_metrics(json.loads(args.results.read_text()))
    args.out.write_text(json.dumps(metrics, indent=1) + "\n")
    print(json.dumps(metrics, indent=1))


if __name__ == "__main__":
    main()
