"""Adaptive augmentation (ADA) and the EMA's ramp-up: p follows how sure D is of the reals,
and the EMA generator is useful from the first steps."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from lightning.pytorch import Callback

from gan_lightning.ada import AdaptiveP
from gan_lightning.ema import ema_decay_at
from gan_lightning.train import train
from tests.conftest import compose_train

QUIET = ["logger=none", "~callbacks.sample_quality", "~callbacks.best_checkpoint"]


class RecordP(Callback):
    """Appends ``step p r_t`` after every iteration to ``<dirpath>/p_rank<rank>.txt``: what each
    DDP rank holds."""

    def __init__(self, dirpath: str) -> None:
        self.dirpath = Path(dirpath)

    def on_train_batch_end(self, trainer, pl_module, *args) -> None:
        line = f"{trainer.global_step} {float(pl_module.ada.p):.17g} {float(pl_module.ada.rt):.17g}\n"
        with open(self.dirpath / f"p_rank{trainer.global_rank}.txt", "a") as f:
            f.write(line)


def test_p_rises_while_d_learns_a_tiny_data_set_by_heart(tmp_path):
    # 128 images: D soon tells them apart from anything G draws (r_t near 1).
    overrides = [*QUIET, "data.limit=128", "data.batch_size=32", "model.augment_p=ada", "model.ada_kimg=1"]
    metrics = train(compose_train(tmp_path, *overrides, "trainer.max_steps=20"))
    assert metrics["train/ada_rt"] > 0.6 and metrics["train/augment_p"] > 0.3
    p = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]["ada.p"]
    assert float(p) == pytest.approx(metrics["train/augment_p"])  # run state: in the checkpoint


def test_p_stays_at_0_while_d_cannot_tell_and_falls_back_when_it_stops_telling():
    ada = AdaptiveP(adaptive=True, target=0.6, kimg=1)
    unsure = torch.tensor([1.0, -1.0, 1.0, -1.0, 1.0])  # r_t = 0.2, below the target
    for update in range(1, 41):
        ada.observe(unsure)
        ada.adjust(update, images_per_update=5, all_ranks_sum=lambda t: t)
    assert float(ada.p) == 0 and float(ada.rt) == pytest.approx(0.2)
    sure = torch.ones(5)
    for update in range(1, 9):  # two intervals of 4 updates: p moves 5 x 4 / 1000 each time
        ada.observe(sure)
        ada.adjust(update, 5, lambda t: t)
    assert float(ada.p) == pytest.approx(0.04)
    for update in range(1, 5):
        ada.observe(unsure)
        ada.adjust(update, 5, lambda t: t)
    assert float(ada.p) == pytest.approx(0.02)


def test_a_fixed_p_augments_that_share_of_images():
    from gan_lightning.augment import build_augment

    augment, images = build_augment(["cutout"]), torch.ones(2000, 1, 8, 8)
    torch.manual_seed(0)
    changed = (augment(images, 0.3) != images).flatten(1).any(1).float().mean()
    assert changed == pytest.approx(0.3, abs=0.04)
    assert torch.equal(augment(images, 0.0), images)


def test_the_ema_decay_ramps_up_to_what_ema_decay_sets():
    assert ema_decay_at(0.999, None, 1, 64) == 0.999
    assert ema_decay_at(0.999, 0.05, 1, 64) < 1e-5  # after one step: the live weights
    early = [ema_decay_at(0.999, 0.05, step, 64) for step in range(1, 400)]
    assert early == sorted(early) and early[-1] < 0.999  # rising, still below the horizon
    assert ema_decay_at(0.999, 0.05, 100_000, 64) == pytest.approx(0.999, abs=1e-12)  # never above it


def test_with_the_ramp_up_the_ema_generator_follows_training_from_the_start(tmp_path):
    """After 20 steps: without the ramp-up the EMA still holds 98% of its random start
    (0.999^20), so its distance to the live weights is about how far training moved them; with
    it, the distance is under 15% of that (9% measured)."""
    distances = {}
    for rampup in ("null", "0.05"):
        run = tmp_path / rampup
        common = [*QUIET, "model.ema_decay=0.999", f"model.ema_rampup={rampup}", "trainer.max_steps=20"]
        train(compose_train(run, *common))
        state = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
        live = torch.cat([v.flatten() for k, v in state.items() if k.startswith("generator.") and "weight" in k])
        ema = torch.cat([v.flatten() for k, v in state.items() if k.startswith("generator_ema.") and "weight" in k])
        distances[rampup] = ((ema - live).norm() / live.norm()).item()
    assert distances["0.05"] < 0.15 * distances["null"], distances


def test_an_ada_run_passes_fast_dev_run(tmp_path):
    metrics = train(compose_train(tmp_path, "experiment=mnist_dcgan32", "model.augment_p=ada", "debug=fdr"))
    assert metrics["train/augment_p"] == 0 and math.isfinite(metrics["train/d_loss"])
