"""The one training loop: mini-batches, validation, early stopping, checkpoints and resume.

A model plugs in through ``loss_fn(module, batch) -> scalar tensor``; ``batch`` is a tuple of
tensors sliced from the training tensors. Checkpoints (module, optimizer, history, best
state) are written atomically after every epoch when a path is given, and a run with the same
path resumes from the last completed epoch.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from pydantic import BaseModel, ConfigDict, Field

from aihep import DEFAULT_SEED
from aihep._atomic import save_torch_atomic


class TrainConfig(BaseModel):
    """Optimization settings."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    epochs: int = Field(50, ge=1)
    batch_size: int = Field(256, ge=1)
    learning_rate: float = Field(1e-3, gt=0)
    weight_decay: float = Field(0.0, ge=0)
    patience: int = Field(10, ge=1, description="epochs without validation improvement")
    cosine_schedule: bool = True
    seed: int = DEFAULT_SEED


@dataclass(frozen=True)
class TrainResult:
    """Loss history and the epoch whose weights were kept."""

    train_loss: list[float]
    val_loss: list[float]
    best_epoch: int
    resumed_from: int = 0
    extra: dict[str, Any] = field(default_factory=dict)
    epoch_seconds: list[float] = field(default_factory=list)  # wall time of each epoch
    #: CPU time of the process during each epoch (all its threads) [s]: compute used,
    #: independent of what else shares the machine
    epoch_cpu_seconds: list[float] = field(default_factory=list)


def release_freed_memory() -> None:
    """Give freed heap memory back to the OS (glibc ``malloc_trim``; no-op elsewhere).

    Batches whose tensors change size every step (ParT's packed pairs, variable graphs)
    fragment glibc's heap: a ParT-lite JetClass run grew to 10 GB and one was OOM-killed.
    Trimming every 50 batches keeps it flat for ~3% of the time.
    """
    global _LIBC
    if _LIBC is None:
        import ctypes
        import ctypes.util

        name = ctypes.util.find_library("c")
        try:
            _LIBC = ctypes.CDLL(name) if name else False
            if _LIBC is not False and not hasattr(_LIBC, "malloc_trim"):
                _LIBC = False
        except OSError:
            _LIBC = False
    if _LIBC is not False:
        _LIBC.malloc_trim(0)


_LIBC: Any = None

LossFn = Callable[[torch.nn.Module, Sequence[torch.Tensor]], torch.Tensor]


ProgressFn = Callable[[int, int, float], None]
"""progress(batches_done, batches_total, last_batch_loss) over the whole run"""


def _batches(tensors: Sequence[torch.Tensor], batch_size: int,
             generator: torch.Generator | None) -> Iterator[tuple[torch.Tensor, ...]]:
    n = len(tensors[0])
    order = torch.randperm(n, generator=generator) if generator is not None else torch.arange(n)
    for i in range(0, n, batch_size):  # one batch at a time: no copy of the whole set
        yield tuple(t[order[i : i + batch_size]] for t in tensors)


def checkpoint_key(module: torch.nn.Module, config: TrainConfig,
                   data: Sequence[Sequence[torch.Tensor]], extra: str = "") -> str:
    """What a checkpoint must match to be resumed: the training settings, the module's
    parameter names and shapes, the data's shapes and first and last rows, and ``extra``
    (e.g. the caller's model config)."""
    import hashlib
    import json

    digest = hashlib.sha256(json.dumps(
        [config.model_dump(mode="json"), extra,
         [(k, list(v.shape)) for k, v in module.state_dict().items()],
         [[list(t.shape) for t in part] for part in data]]).encode())
    for part in data:
        for t in part:
            for rows in (t[:256], t[-256:]):
                digest.update(rows.detach().contiguous().cpu().numpy().tobytes())
    return digest.hexdigest()


def train(module: torch.nn.Module, loss_fn: LossFn, train_data: Sequence[torch.Tensor],
          val_data: Sequence[torch.Tensor], config: TrainConfig | None = None,
          checkpoint: str | Path | None = None,
          progress: ProgressFn | None = None,
          before_batch: Callable[[int, int], None] | None = None,
          resume_key: str = "") -> TrainResult:
    """Train ``module`` in place, keep the weights of the best validation epoch.

    Args:
        module: the model (its parameters are optimized with AdamW).
        loss_fn: mean loss of a batch.
        train_data, val_data: tuples of tensors with equal first dimension.
        config: optimization settings.
        checkpoint: optional file for per-epoch checkpoints and resume; a checkpoint
            written for other settings, another module or other data (see
            :func:`checkpoint_key`) is not resumed but overwritten.
        progress: called after every training batch (for progress bars).
        before_batch: called before every training batch with (batches done, total
            batches), counted over the whole run, also after a resume (schedules that
            follow training progress, e.g. the DANN weight).
        resume_key: what else a checkpoint must match to be resumed (e.g. a model config).
    """
    config = config or TrainConfig()
    generator = torch.Generator().manual_seed(config.seed)
    optimizer = torch.optim.AdamW(module.parameters(), lr=config.learning_rate,
                                  weight_decay=config.weight_decay)
    scheduler = (torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, config.epochs)
                 if config.cosine_schedule else None)
    history: dict[str, list[float]] = {"train": [], "val": [], "seconds": [],
                                       "cpu_seconds": []}
    best = (float("inf"), -1, None)
    start_epoch = 0
    path = Path(checkpoint) if checkpoint is not None else None
    key = checkpoint_key(module, config, (train_data, val_data), resume_key) if path else ""
    state = torch.load(path, weights_only=False) if path is not None and path.exists() else {}
    if state.get("key") == key:
        module.load_state_dict(state["module"])
        optimizer.load_state_dict(state["optimizer"])
        if scheduler is not None and state.get("scheduler"):
            scheduler.load_state_dict(state["scheduler"])
        history, start_epoch = state["history"], state["epoch"] + 1
        history.setdefault("seconds", [])
        history.setdefault("cpu_seconds", [])  # not in older checkpoints
        best = (state["best_loss"], state["best_epoch"], state["best_state"])
        generator.set_state(state["generator"])
        if "torch_rng" in state:  # models that draw noise (VAEs, flows) continue their stream
            torch.set_rng_state(state["torch_rng"])
    per_epoch = -(-len(train_data[0]) // config.batch_size)
    done = start_epoch * per_epoch
    for epoch in range(start_epoch, config.epochs):
        if epoch - best[1] > config.patience and best[1] >= 0:
            break
        module.train()
        epoch_start, epoch_cpu = time.perf_counter(), time.process_time()
        total, count = 0.0, 0
        for batch in _batches(train_data, config.batch_size, generator):
            if before_batch is not None:
                before_batch(done, per_epoch * config.epochs)
            optimizer.zero_grad()
            loss = loss_fn(module, batch)
            loss.backward()
            optimizer.step()
            total += float(loss.detach()) * len(batch[0])
            count += len(batch[0])
            done += 1
            if done % 50 == 0:
                release_freed_memory()
            if progress is not None:
                progress(done, per_epoch * config.epochs, float(loss.detach()))
        if scheduler is not None:
            scheduler.step()
        module.eval()
        with torch.no_grad():
            val_total = sum(float(loss_fn(module, b)) * len(b[0])
                            for b in _batches(val_data, 4 * config.batch_size, None))
        val = val_total / max(len(val_data[0]), 1)
        history["train"].append(total / max(count, 1))
        history["val"].append(val)
        history["seconds"].append(time.perf_counter() - epoch_start)
        history["cpu_seconds"].append(time.process_time() - epoch_cpu)
        if val < best[0]:
            best = (val, epoch, {k: v.detach().clone() for k, v in module.state_dict().items()})
        if path is not None:
            state = {"key": key, "module": module.state_dict(),
                     "optimizer": optimizer.state_dict(),
                     "scheduler": scheduler.state_dict() if scheduler else None,
                     "history": history, "epoch": epoch, "best_loss": best[0],
                     "best_epoch": best[1], "best_state": best[2],
                     "generator": generator.get_state(), "torch_rng": torch.get_rng_state()}
            save_torch_atomic(path, state)
    if best[2] is not None:
        module.load_state_dict(best[2])
    module.eval()
    return TrainResult(history["train"], history["val"], best[1], start_epoch,
                       epoch_seconds=list(history["seconds"]),
                       epoch_cpu_seconds=list(history["cpu_seconds"]))


@contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Seed torch's global generator (weight initialization, dropout) inside the block only.

    The caller's generator state is restored on exit, so a library call never reseeds the
    user's session.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield
