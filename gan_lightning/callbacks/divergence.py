"""Stops a diverged run with one clear line; warns when the discriminator wins outright, and
when the samples cover fewer classes than before (mode collapse)."""

from __future__ import annotations

import logging
import math
from typing import Any

import torch
from lightning.pytorch import Callback, LightningModule, Trainer

from gan_lightning.callbacks.checkpoint import BestCheckpoint, LastCheckpoint
from gan_lightning.plumbing.errors import TrainingError
from gan_lightning.protocols import scored_epoch

log = logging.getLogger(__name__)

WATCHED = ("train/d_loss", "train/g_loss", "train/d_fake")


class DivergenceGuard(Callback):
    """Every ``every_n_steps`` iterations, reads the step's losses and D(G(z)).

    - A NaN or Inf loss, or a NaN in the generator's output, raises ``TrainingError`` naming
      the step and the loss. Checkpoint writes refuse non-finite weights, so ``last.ckpt``
      keeps the last good state.
    - D(G(z)) below ``d_fake_floor`` for ``patience`` checked steps in a row warns once: the
      discriminator wins outright and the generator's gradient vanishes. Only for losses whose
      D outputs probabilities (``bce``, ``bce_saturating``); others report raw scores.
    - ``val/modes`` (classes the samples cover, for MNIST-like data) falling below the most it
      reached warns, once per new low: mode collapse, which the losses do not show. The most
      it reached is kept in checkpoints, so a resumed run compares with its whole history.

    Each check copies four numbers to the host (one synchronisation); raise ``every_n_steps``
    where that matters, at the price of noticing a divergence later.
    """

    def __init__(self, every_n_steps: int = 10, d_fake_floor: float = 0.01, patience: int = 200) -> None:
        self.every_n_steps = every_n_steps
        self.d_fake_floor = d_fake_floor
        self.patience = patience
        self._starved = 0
        self._warned = False
        self._most_modes: int | None = None
        self._lowest_warned: int | None = None
        self._modes_epoch: int | None = None

    def on_train_batch_end(
        self, trainer: Trainer, pl_module: LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        step = trainer.global_step
        if self.every_n_steps < 1 or step % self.every_n_steps or not isinstance(outputs, dict):
            return
        finite = torch.isfinite(outputs["fake"]).all().float()  # the step's fakes, read here
        numbers = torch.stack([*(outputs[name].float() for name in WATCHED), finite]).tolist()
        values = dict(zip((*WATCHED, "fake_finite"), numbers, strict=True))
        for name in WATCHED[:2]:
            if not math.isfinite(values[name]):
                raise TrainingError(f"step {step}: {name} is {values[name]}; stopped, {_kept(trainer)}")
        if not values["fake_finite"]:
            raise TrainingError(f"step {step}: the generator's output holds NaN or Inf; stopped, {_kept(trainer)}")
        if not pl_module.loss.probabilities:
            return
        self._starved = self._starved + 1 if values["train/d_fake"] < self.d_fake_floor else 0
        if self._starved >= self.patience and not self._warned:
            self._warned = True
            log.warning(
                "step %d: D(G(z)) has stayed below %g for %d checks; the discriminator wins outright "
                "and the generator gets almost no gradient (consider a lower discriminator lr)",
                *(step, self.d_fake_floor, self._starved),
            )

    def state_dict(self) -> dict[str, Any]:
        # The most classes covered so far: a resumed run (a requeued job) still warns of a fall.
        return {"most_modes": self._most_modes, "lowest_warned": self._lowest_warned, "modes_epoch": self._modes_epoch}

    def on_save_checkpoint(self, trainer: Trainer, pl_module: LightningModule, checkpoint: dict[str, Any]) -> None:
        # An epoch-end checkpoint is written after that epoch's scoring: count it in first.
        self._check_modes(trainer)
        if "callbacks" in checkpoint:
            checkpoint["callbacks"][self.state_key] = self.state_dict()

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._most_modes = state_dict.get("most_modes")
        self._lowest_warned = state_dict.get("lowest_warned")
        self._modes_epoch = state_dict.get("modes_epoch")

    def on_train_epoch_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._check_modes(trainer)  # the scores of the epoch that just ended

    def on_train_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._check_modes(trainer)

    def _check_modes(self, trainer: Trainer) -> None:
        modes = trainer.callback_metrics.get("val/modes")
        scored = scored_epoch(trainer)
        if modes is None or scored is None or scored == self._modes_epoch:
            return
        self._modes_epoch, modes = scored, int(modes)
        lowest = min(modes, self._lowest_warned) if self._lowest_warned is not None else modes
        if self._most_modes is not None and modes < self._most_modes and lowest == modes != self._lowest_warned:
            self._lowest_warned = modes
            log.warning(
                "epoch %d: val/modes fell from %d to %d: the samples cover fewer classes than they did "
                "(mode collapse)%s",
                *(scored, self._most_modes, modes, _best_kept(trainer)),
            )
        self._most_modes = max(modes, self._most_modes or 0)


def _best_kept(trainer: Trainer) -> str:
    """What the run's best checkpoint keeps, by the value it monitors; nothing without one."""
    best = next((cb for cb in trainer.callbacks if isinstance(cb, BestCheckpoint)), None)
    if best is None or best.monitor is None:
        return ""
    return f"; {best.best_file.name} keeps the best {best.monitor} so far"


def _kept(trainer: Trainer) -> str:
    """What a stopped run keeps: its last.ckpt and the step it holds, or nothing yet."""
    last = next((cb for cb in trainer.callbacks if isinstance(cb, LastCheckpoint)), None)
    if last is None or not last.path.is_file():
        return "no checkpoint saved yet"
    return f"{last.path} kept" + (f" (step {last.saved_step})" if last.saved_step is not None else "")
