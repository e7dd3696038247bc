"""JetClass ROOT files (Qu, Li, Qian 2022): read into a :class:`~aihep.io.jets.JetSet`
and write our generated jets in the same layout (for weaver-core and other JetClass tools).

Layout: a TTree ``tree`` with per-particle jagged branches ``part_*`` (px, py, pz,
energy in GeV; deta, dphi; d0val, d0err, dzval, dzerr in mm; charge; isChargedHadron,
isNeutralHadron, isPhoton, isElectron, isMuon), per-jet branches ``jet_*`` (pt, eta, phi,
energy, nparticles, sdmass, tau1..tau4) and one boolean branch ``label_<class>`` per class
(QCD, Hbb, Hcc, Hgg, H4q, Hqql, Zqq, Wqq, Tbqq, Tbl), exactly one true per jet.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np

from aihep._atomic import write_atomic
from aihep.errors import InputError
from aihep.io.jets import (
    JET_REQUIRED,
    JETCLASS_CLASSES,
    PARTICLE_REQUIRED,
    JetSet,
    check_particle_counts,
    drop_empty_jets,
)

TREE = "tree"


def _open_tree(path: Path) -> Any:
    import uproot

    if not path.is_file():
        raise InputError(path, "file", "an existing JetClass ROOT file")
    try:
        handle = uproot.open(path)
        if TREE not in handle:
            raise InputError(path, TREE, f"a TTree named '{TREE}' (found: "
                             f"{', '.join(handle.keys()) or 'nothing'})")
        tree = handle[TREE]
        tree.keys()
    except InputError:
        raise
    except Exception as error:  # uproot raises several unrelated types on non-ROOT files
        raise InputError(path, "file", f"a complete ROOT file ({type(error).__name__})"
                         ) from None
    return tree


def read_jetclass(path: str | Path, max_jets: int | None = None,
                  drop_empty: bool = False) -> JetSet:
    """Read a JetClass ROOT file; classes are the ``label_*`` branches present, JetClass order.

    Args:
        max_jets: read at most this many jets (from the start).
        drop_empty: drop jets without particles instead of raising.

    Raises:
        InputError: missing file or tree, missing branches (named), no label branches, labels
            that are not one-hot, no jets.
    """
    path = Path(path)
    tree = _open_tree(path)
    keys = set(tree.keys())
    missing = [b for b in (*PARTICLE_REQUIRED, *JET_REQUIRED) if b not in keys]
    if missing:
        raise InputError(path, ", ".join(missing), "JetClass branches (part_px, part_py, "
                         "part_pz, part_energy, jet_pt, jet_eta, jet_phi, jet_energy); found "
                         f"{', '.join(sorted(keys))[:300]}")
    label_names = [c for c in JETCLASS_CLASSES if f"label_{c}" in keys]
    label_names += sorted(k[6:] for k in keys if k.startswith("label_")
                          and k[6:] not in label_names)
    if not label_names:
        raise InputError(path, "label_*", "one boolean branch label_<class> per class")
    if tree.num_entries == 0:
        raise InputError(path, TREE, "at least one jet (the tree is empty)")
    wanted = [k for k in keys if k.startswith(("part_", "jet_", "label_"))]
    try:
        table = tree.arrays(wanted, entry_stop=max_jets)
    except Exception as error:  # truncated baskets: uproot/zlib/numpy errors of many types
        raise InputError(path, TREE, "a complete ROOT file (truncated or damaged: "
                         f"{type(error).__name__})") from None
    onehot = np.stack([ak.to_numpy(table[f"label_{c}"]).astype(int) for c in label_names], 1)
    if not np.all(onehot.sum(1) == 1):
        bad = int(np.flatnonzero(onehot.sum(1) != 1)[0])
        raise InputError(path, "label_*", f"exactly one true label per jet (jet {bad} has "
                         f"{int(onehot.sum(1)[bad])})")
    fields = {k: table[k] for k in table.fields if not k.startswith("label_")}
    fields["label"] = onehot.argmax(1)
    jets = JetSet(ak.zip(fields, depth_limit=1), tuple(label_names), str(path))
    return drop_empty_jets(jets)[0] if drop_empty else jets


def write_jetclass(jets: JetSet, path: str | Path) -> Path:
    """Write a set as a JetClass ROOT file (atomically); the labels become ``label_*``."""
    import uproot

    check_particle_counts(jets)
    t = jets.table
    parts = {name[5:]: ak.values_astype(t[name], np.float32) for name in t.fields
             if name.startswith("part_")}
    flat: dict[str, np.ndarray] = {name: ak.to_numpy(t[name]).astype(np.float32)
                                   for name in t.fields if name.startswith("jet_")}
    flat.setdefault("jet_nparticles", ak.to_numpy(ak.num(t["part_energy"], axis=1)).astype(
        np.float32))
    labels = jets.labels
    for i, name in enumerate(jets.classes):
        flat[f"label_{name}"] = labels == i
    particles = ak.zip(parts)  # one record: branches part_<field> sharing the counter npart

    def write(tmp: Path) -> None:
        # mktree makes a TTree (assigning a dict would make an RNTuple, which JetClass
        # tools such as weaver-core do not read)
        with uproot.recreate(tmp) as handle:
            types = {"part": particles.type.content,
                     **{k: v.dtype for k, v in flat.items()}}
            tree = handle.mktree(TREE, types)
            tree.extend({"part": particles, **flat})

    return write_atomic(Path(path), write)
