"""Stops a diverged run with one clear line, and warns when the discriminator wins outright."""

from __future__ import annotations

import logging
import math
from typing import Any

import torch
from lightning.pytorch import Callback, LightningModule, Trainer

from gan_lightning.errors import TrainingError

log = logging.getLogger(__name__)

WATCHED = ("train/d_loss", "train/g_loss", "train/d_fake", "fake_finite")


class DivergenceGuard(Callback):
    """Every ``every_n_steps`` iterations, reads the step's losses and D(G(z)).

    - A NaN or Inf loss, or a NaN in the generator's output, raises ``TrainingError`` naming
      the step and the loss. Checkpoint writes refuse non-finite weights, so ``last.ckpt``
      keeps the last good state.
    - D(G(z)) below ``d_fake_floor`` for ``patience`` checked steps in a row warns once: the
      discriminator wins outright and the generator's gradient vanishes.

    Each check copies four numbers to the host (one synchronisation); raise ``every_n_steps``
    where that matters, at the price of noticing a divergence later.
    """

    def __init__(self, every_n_steps: int = 10, d_fake_floor: float = 0.01, patience: int = 200) -> None:
        self.every_n_steps = every_n_steps
        self.d_fake_floor = d_fake_floor
        self.patience = patience
        self._starved = 0
        self._warned = False

    def on_train_batch_end(
        self, trainer: Trainer, pl_module: LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        step = trainer.global_step
        if self.every_n_steps < 1 or step % self.every_n_steps or not isinstance(outputs, dict):
            return
        numbers = torch.stack([outputs[name].float() for name in WATCHED]).tolist()
        values = dict(zip(WATCHED, numbers, strict=True))
        for name in WATCHED[:2]:
            if not math.isfinite(values[name]):
                raise TrainingError(f"step {step}: {name} is {values[name]}; stopped, last.ckpt kept")
        if not values["fake_finite"]:
            raise TrainingError(f"step {step}: the generator's output holds NaN or Inf; stopped")
        self._starved = self._starved + 1 if values["train/d_fake"] < self.d_fake_floor else 0
        if self._starved >= self.patience and not self._warned:
            self._warned = True
            log.warning(
                "step %d: D(G(z)) has stayed below %g for %d checks; the discriminator wins outright "
                "and the generator gets almost no gradient (consider a lower discriminator lr)",
                *(step, self.d_fake_floor, self._starved),
            )
