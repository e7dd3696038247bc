"""Benchmark: how far a larger aihep-spanet network, trained longer, gets on the events of
``benchmarks/assignment.py`` (a ceiling study for the chi2 targets of that benchmark).

Same cached events, same training/test split and chi2 rows as ``assignment.py`` (run it first:
this script resumes its data cache and refuses a cache of another size). One seed of our
network at ``--hidden`` / ``--layers`` with ``--epochs`` epochs (cosine schedule over all of
them) on ``--threads`` threads; the efficiencies by 6 / 7 / >= 8 jets next to chi2 and to the
standard (hidden 64, 8 epochs) rows already in the results file, and on fully matched events
the fractions that the network and chi2 both / only one / neither get right (``either``: what
a per-event oracle picking the better of the two would reach), also by b-tag class (the two
true b jets the only tagged ones / tagged among others / one untagged), for this network and
for the standard networks of assignment.py still in the cache (``aihep_seed*``). A finished
training is not redone (re-running only re-evaluates).

With ``--train-events N`` the network trains on the first N training events only (10% of them
for validation): a data-scaling point at the same test set.

Usage: python benchmarks/assignment_ceiling.py [--hidden 128] [--layers 6] [--embed-layers 2]
       [--epochs 14] [--seed 1] [--threads 2] [--train-events N]
Writes the ``assignment_ceiling`` part of benchmarks/results/event_model.json.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
from assignment import CACHE, RESULTS
from common import git_commit, utc_now, write_result


def overlap_with_chi2(network: np.ndarray, chi2: np.ndarray, test) -> list[dict]:
    """Per jet multiplicity, on fully matched events: the fractions the network and chi2
    both get right, only one gets right, neither; ``either`` is what a per-event oracle
    choosing the better of the two would reach."""
    from aihep.assign.metrics import top_matches

    net_ok, reconstructable = top_matches(network, test.targets)
    chi2_ok, _ = top_matches(chi2, test.targets)
    net_ok, chi2_ok = net_ok.all(1), chi2_ok.all(1)
    rows = []
    for label, group in (("6", test.n_jets == 6), ("7", test.n_jets == 7),
                         (">=8", test.n_jets >= 8)):
        keep = group & reconstructable.all(1)
        a, b = net_ok[keep], chi2_ok[keep]
        row = {"njets": label, "events": int(keep.sum()),
               "both": float((a & b).mean()), "network_only": float((a & ~b).mean()),
               "chi2_only": float((~a & b).mean()), "neither": float((~a & ~b).mean()),
               "either": float((a | b).mean())}
        for tag_class, in_class in b_tag_classes(test).items():
            sel = in_class[keep]
            row[f"fraction_{tag_class}"] = float(sel.mean())
            row[f"network_{tag_class}"] = float(a[sel].mean())
            row[f"chi2_{tag_class}"] = float(b[sel].mean())
        rows.append(row)
    return rows


def b_tag_classes(test) -> dict[str, np.ndarray]:
    """Events whose two true b jets are the only b-tagged jets (chi2 has one choice of b's),
    whose true b jets are tagged with other jets besides, and with a true b jet untagged
    (chi2, which takes tagged jets as the b quarks, cannot be right)."""
    tagged = test.btag > 0.5
    b_jets = np.maximum(test.targets[:, [0, 3]], 0)
    both_tagged = np.take_along_axis(tagged, b_jets, 1).all(1) & (test.targets[:, [0, 3]]
                                                                  >= 0).all(1)
    n_tags = tagged.sum(1)
    return {"b_tags_exact": both_tagged & (n_tags == 2),
            "b_tags_extra": both_tagged & (n_tags > 2), "b_untagged": ~both_tagged}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--layers", type=int, default=6)
    parser.add_argument("--embed-layers", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=14)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--train-events", type=int, default=None,
                        help="train on the first N training events only (a data-scaling "
                        "point; default all of them)")
    args = parser.parse_args()
    import torch

    from aihep.assign.data import AssignmentDataConfig, build_assignment_dataset
    from aihep.assign.metrics import efficiencies
    from aihep.assign.model import AssignmentModelConfig
    from aihep.assign.run import AssignTrainConfig, assign_events, train_file
    from aihep.io.assignment import write_events
    from aihep.nn.train import TrainConfig

    old = json.loads(RESULTS.read_text()) if RESULTS.is_file() else {}
    setup = old.get("assignment_setup")
    if not setup:
        message = f"{RESULTS}: no 'assignment_setup'; run benchmarks/assignment.py first"
        raise SystemExit(message)
    commit = git_commit()
    data = build_assignment_dataset(AssignmentDataConfig(n_events=setup["events"]),
                                    CACHE / "data", args.threads,
                                    lambda d, n: print(f"  events {d}/{n}", flush=True))
    events = data.read()
    test = events.select(np.arange(len(events) - setup["test"], len(events)))
    train = events.select(np.arange(len(events) - setup["test"]))
    train_h5 = CACHE / "train.h5"
    if not train_h5.is_file():
        write_events(train_h5, train)
    name = f"h{args.hidden}_l{args.layers}_e{args.epochs}_seed{args.seed}"
    if args.train_events is not None and args.train_events < len(train):
        train_h5 = CACHE / f"train_first{args.train_events}.h5"
        if not train_h5.is_file():
            write_events(train_h5, train.select(np.arange(args.train_events)))
        name += f"_n{args.train_events}"
    torch.set_num_threads(args.threads)
    run_dir = CACHE / f"ceiling_{name}"
    config = AssignTrainConfig(
        model=AssignmentModelConfig(hidden=args.hidden, layers=args.layers,
                                    embed_layers=args.embed_layers, seed=args.seed),
        train=TrainConfig(epochs=args.epochs, batch_size=256, learning_rate=1e-3,
                          patience=args.epochs, seed=args.seed))
    start = time.perf_counter()

    def progress(done: int, total: int, loss: float) -> None:
        if done % 1000 == 0 or done == total:
            print(f"  batch {done}/{total}: loss {loss:.4f}", flush=True)

    trained = train_file(train_h5, run_dir, config, progress)
    print(f"trained in {(time.perf_counter() - start) / 60:.1f} min")
    predictions, _, seconds, _ = assign_events(test, "aihep-spanet", run=run_dir)
    rows = efficiencies(predictions, test.targets, test.n_jets, "aihep-spanet", args.seed)
    chi2_predictions, _, _, _ = assign_events(test, "chi2", train_events=train)
    overlap = overlap_with_chi2(predictions, chi2_predictions, test)
    # the same breakdown for the standard networks of assignment.py still in the cache
    reference_overlap = {}
    for run_dir_ref in sorted(CACHE.glob("aihep_seed*")):
        if (run_dir_ref / "model.pt").is_file():
            reference, _, _, _ = assign_events(test, "aihep-spanet", run=run_dir_ref)
            reference_overlap[run_dir_ref.name] = overlap_with_chi2(reference,
                                                                     chi2_predictions, test)
    run = {"name": name, "hidden": args.hidden, "layers": args.layers,
           "embed_layers": args.embed_layers, "epochs": args.epochs, "seed": args.seed,
           "train_events": args.train_events or len(train),
           "parameters": trained.parameters, "threads": args.threads,
           "train_minutes": sum(trained.epoch_seconds) / 60,
           "epoch_seconds": trained.epoch_seconds,
           "best_epoch": trained.best_epoch, "val_loss": trained.val_loss,
           "events_per_second": len(test) / max(seconds, 1e-9), "commit": commit,
           "date": utc_now(), "rows": rows, "overlap_with_chi2": overlap}
    old = json.loads(RESULTS.read_text())
    runs = [r for r in old.get("assignment_ceiling", []) if r.get("name") != name] + [run]
    write_result(RESULTS, {**old, "assignment_ceiling": runs,
                           "assignment_overlap_reference": {
                               **old.get("assignment_overlap_reference", {}),
                               **{name_ref: {"overlap_with_chi2": value, "commit": commit}
                                  for name_ref, value in reference_overlap.items()}}},
                 old.get("commit"))

    print("\n| method | njets | matched event eff. | all events |")
    print("|---|---|---|---|")
    reference = old.get("assignment", [])
    for label, selected in (("chi2", [r for r in reference if r["method"] == "chi2"]),
                            ("aihep-spanet h64 (3 seeds)",
                             [r for r in reference if r["method"] == "aihep-spanet"]),
                            (f"aihep-spanet {name}", rows)):
        for njets in ("6", "7", ">=8"):
            cells = [np.mean([r["event_efficiency"] for r in selected
                              if r["njets"] == njets and r["subset"] == subset])
                     for subset in ("matched", "all")]
            print(f"| {label} | {njets} | {cells[0]:.3f} | {cells[1]:.3f} |")
    print("\nfully matched events: fraction right by both, by one only, by neither")
    for label, table in ((name, overlap), *reference_overlap.items()):
        print(label)
        for row in table:
            print("  " + ", ".join(f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}"
                                   for k, v in row.items()))


if __name__ == "__main__":
    main()
