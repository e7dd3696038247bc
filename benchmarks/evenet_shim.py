"""Train the ``evenet-lite`` classifier (0.5.0, its own venv: it pins numpy 1.26.4) on an
event file written by ``benchmarks/event_model.py`` and score its test events, or count the
parameters of the network it would build.

Its network is EveNet's body (global embedding, PET point-cloud layers, object encoder) with
a classification head, built from the package's default configuration scaled down to a
given size; no pretrained weights (they are on a hub this machine cannot reach). Training
uses the package's own trainer and optimizer recipe (warm-up, module groups) with the
epochs, batch size, validation events and early stopping the caller gives; the weights of
the best validation epoch are restored before scoring.

Usage: <evenet-venv>/bin/python benchmarks/evenet_shim.py DATA.npz OUT_DIR [--hidden 40]
       [--layers 2] [--epochs 20] [--patience 5] [--batch 256] [--seed 1] [--count]
``DATA.npz`` holds ``{train,val,test}_{x,x_mask,globals}`` and ``{train,val}_y``; OUT_DIR
gets ``scores.npy`` (test probability of class 1) and ``result.json``.
"""

import argparse
import copy
import json
import logging
import time
from pathlib import Path

import numpy as np
import torch
import yaml


def network_config(hidden: int, layers: int) -> dict:
    """The package's default network configuration at ``hidden`` width, ``layers`` PET
    layers, one local layer, one object-encoder layer."""
    import evenet_lite

    path = Path(evenet_lite.__file__).parent / "config" / "default_network_config.yaml"
    config = copy.deepcopy(yaml.safe_load(path.read_text()))
    body = config["Body"]
    body["GlobalEmbedding"].update(hidden_dim=hidden, num_embedding_layers=2)
    body["PET"].update(hidden_dim=hidden, num_layers=layers, num_local_layer=1, num_heads=4)
    body["ObjectEncoder"].update(hidden_dim=hidden, num_attention_heads=4,
                                 num_encoder_layers=1, num_embedding_layers=1)
    config["Classification"].update(hidden_dim=hidden, num_attention_heads=4)
    return config


def build(hidden: int, layers: int, n_features: int, n_globals: int):
    from evenet.control.global_config import DotDict
    from evenet_lite import EveNetLite

    return EveNetLite(config=DotDict(network_config(hidden, layers)),
                      global_input_dim=n_globals, sequential_input_dim=n_features,
                      cls_label=["ttbar", "tth"])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("data", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--hidden", type=int, default=40)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--patience", type=int, default=5)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--count", action="store_true", help="only count the parameters")
    args = parser.parse_args()
    logging.disable(logging.WARNING)  # its per-epoch significance tables
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    data = np.load(args.data)
    model = build(args.hidden, args.layers, data["test_x"].shape[-1],
                  data["test_globals"].shape[-1])
    parameters = sum(p.numel() for p in model.parameters() if p.requires_grad)
    args.out.mkdir(parents=True, exist_ok=True)
    if args.count:
        print(parameters)
        return
    from evenet_lite import Callback, EvenetLiteClassifier

    class EpochCount(Callback):
        epochs = 0

        def on_epoch_end(self, trainer, epoch, metrics) -> None:
            EpochCount.epochs = epoch + 1

    def part(name: str) -> dict:
        return {"x": torch.from_numpy(data[f"{name}_x"]),
                "x_mask": torch.from_numpy(data[f"{name}_x_mask"]),
                "globals": torch.from_numpy(data[f"{name}_globals"])}

    classifier = EvenetLiteClassifier(class_labels=["ttbar", "tth"], model=model, device="cpu",
                                      log_level=logging.WARNING)
    wall, cpu = time.perf_counter(), time.process_time()
    # its trainer restores the best validation epoch's weights at the end
    classifier.fit((part("train"), torch.from_numpy(data["train_y"]), None),
                   val_data=(part("val"), torch.from_numpy(data["val_y"]), None),
                   epochs=args.epochs, batch_size=args.batch, callbacks=[EpochCount()],
                   early_stop_metric="val_loss", early_stop_patience=args.patience)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    epochs_run = EpochCount.epochs
    start = time.perf_counter()
    logits = classifier.predict(part("test"), batch_size=512)
    inference = time.perf_counter() - start
    scores = torch.softmax(logits.float(), 1)[:, 1]
    np.save(args.out / "scores.npy", scores.numpy())
    n_train = len(data["train_y"])
    (args.out / "result.json").write_text(json.dumps({
        "parameters": parameters, "minutes": wall / 60, "cpu_minutes": cpu / 60,
        "epochs_run": epochs_run,
        "train_events_per_second": n_train * epochs_run / max(wall, 1e-9),
        "inference_events_per_second": len(scores) / max(inference, 1e-9)}))


if __name__ == "__main__":
    main()
