"""The shared training loop: it learns, keeps the best epoch, and resumes from checkpoints."""

from __future__ import annotations

import pytest
import torch

from aihep.nn.train import TrainConfig, seeded, train


def _data(seed: int):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(512, 3, generator=g)
    y = x @ torch.tensor([1.0, -2.0, 0.5]) + 0.1 * torch.randn(512, generator=g)
    return x, y


def _loss(module, batch):
    return torch.mean((module(batch[0]).squeeze(-1) - batch[1]) ** 2)


def test_training_reduces_loss():
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 1)
    result = train(model, _loss, _data(1), _data(2), TrainConfig(epochs=30, batch_size=64,
                                                                   learning_rate=0.05))
    assert result.val_loss[result.best_epoch] < 0.1 * result.val_loss[0]
    assert result.val_loss[result.best_epoch] == min(result.val_loss)


def test_resume_after_interruption_equals_uninterrupted(tmp_path):
    config = TrainConfig(epochs=8, batch_size=64, learning_rate=0.05, patience=100)
    torch.manual_seed(0)
    full = torch.nn.Linear(3, 1)
    ref = train(full, _loss, _data(1), _data(2), config)

    calls = {"n": 0}

    def crashing_loss(module, batch):
        calls["n"] += 1
        if calls["n"] == 45:  # inside the 5th epoch (8 train + 1 val batches per epoch)
            raise KeyboardInterrupt
        return _loss(module, batch)

    torch.manual_seed(0)
    interrupted = torch.nn.Linear(3, 1)
    with pytest.raises(KeyboardInterrupt):
        train(interrupted, crashing_loss, _data(1), _data(2), config,
              checkpoint=tmp_path / "ckpt.pt")
    fresh = torch.nn.Linear(3, 1)  # a new process rebuilds the module from its config
    resumed = train(fresh, _loss, _data(1), _data(2), config, checkpoint=tmp_path / "ckpt.pt")
    assert resumed.resumed_from == 4
    torch.testing.assert_close(resumed.val_loss, ref.val_loss)
    # wall and CPU time of every epoch, the interrupted session's epochs included
    assert len(resumed.epoch_seconds) == len(resumed.epoch_cpu_seconds) == 8
    assert all(cpu >= 0 for cpu in resumed.epoch_cpu_seconds)
    torch.testing.assert_close(fresh.weight, full.weight)


def test_a_checkpoint_of_other_settings_module_or_data_is_not_resumed(tmp_path):
    """A finished run's checkpoint must not be resumed by a run with another module (it once
    failed to load), other settings, other data or another caller key: that run starts
    afresh and overwrites it."""
    config = TrainConfig(epochs=3, batch_size=64, learning_rate=0.05, patience=100)
    ckpt = tmp_path / "ckpt.pt"
    train(torch.nn.Linear(3, 1), _loss, _data(1), _data(2), config, checkpoint=ckpt)
    again = train(torch.nn.Linear(3, 1), _loss, _data(1), _data(2), config, checkpoint=ckpt)
    assert again.resumed_from == 3  # the same run: nothing left to do
    wider = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Linear(4, 1))
    for module, data, cfg, key in (
            (wider, _data(1), config, ""),
            (torch.nn.Linear(3, 1), _data(5), config, ""),
            (torch.nn.Linear(3, 1), _data(1), config.model_copy(update={"learning_rate": 0.01}),
             ""),
            (torch.nn.Linear(3, 1), _data(1), config, "another model config")):
        result = train(module, _loss, data, _data(2), cfg, checkpoint=ckpt, resume_key=key)
        assert result.resumed_from == 0 and len(result.val_loss) == 3
        train(torch.nn.Linear(3, 1), _loss, _data(1), _data(2), config, checkpoint=ckpt)


def test_before_batch_counts_over_the_whole_run_also_after_a_resume(tmp_path):
    """Schedules driven by training progress (the DANN weight) continue after a resume
    instead of restarting at zero."""
    config = TrainConfig(epochs=4, batch_size=64, learning_rate=0.05, patience=100)
    seen: list[tuple[int, int]] = []

    def record(done: int, total: int) -> None:
        if done == 20:  # inside the 3rd epoch (8 batches per epoch)
            raise KeyboardInterrupt
        seen.append((done, total))

    with pytest.raises(KeyboardInterrupt):
        train(torch.nn.Linear(3, 1), _loss, _data(1), _data(2), config,
              checkpoint=tmp_path / "ckpt.pt", before_batch=record)
    assert seen == [(k, 32) for k in range(20)]
    seen.clear()
    train(torch.nn.Linear(3, 1), _loss, _data(1), _data(2), config,
          checkpoint=tmp_path / "ckpt.pt", before_batch=lambda d, t: seen.append((d, t)))
    assert seen == [(k, 32) for k in range(16, 32)]  # resumed after epoch 2


def test_dann_schedule_follows_the_loop_progress():
    from aihep.nn.dann import DomainHead, dann_lambda, dann_schedule

    head = DomainHead(4)
    hook = dann_schedule(head, maximum=0.5)
    hook(0, 100)
    assert head.reverse.lam == 0.0
    hook(30, 100)
    assert head.reverse.lam == pytest.approx(dann_lambda(0.3, 0.5))
    hook(100, 100)
    assert 0.49 < head.reverse.lam <= 0.5


def test_seeded_is_reproducible_and_restores_the_callers_generator():
    import numpy as np

    from aihep.nn.classifier import MLPClassifier

    with seeded(3):
        first = torch.rand(4)
    with seeded(3):
        assert torch.equal(torch.rand(4), first)
    torch.manual_seed(11)
    expected = torch.rand(3)
    torch.manual_seed(11)
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(200, 3)), rng.integers(0, 2, 200)
    MLPClassifier(seed=5).fit(x, y)  # a library fit never reseeds the user's session
    assert torch.equal(torch.rand(3), expected)
