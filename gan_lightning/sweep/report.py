"""A sweep run's reports to its Optuna trial, as a Lightning callback: the objective at every
scoring, and a clean stop when the pruner says so."""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

from lightning.pytorch import Callback, LightningModule, Trainer

from gan_lightning.protocols import scored_epoch
from gan_lightning.sweep.results import objective

log = logging.getLogger(__name__)


class ReportToStudy(Callback):
    """After every scoring of ``metric`` (``val/fid`` at the end of each scored epoch, or a
    loss-based objective at each epoch end), rank 0 reports it to the trial as the epoch's
    intermediate value and asks the study's pruner. A pruned run stops at the end of that
    epoch, where ``last.ckpt`` has just been saved; ``pruned_epoch`` then says where it stopped.
    Every rank of a DDP trial gets rank 0's decision, so all stop together."""

    def __init__(self, sweep_dir: Path, trial_number: int, metric: str) -> None:
        self.sweep_dir, self.trial_number, self.metric = sweep_dir, trial_number, metric
        self.pruned_epoch: int | None = None
        self._trial: Any = None

    def setup(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        if trainer.is_global_zero:
            from gan_lightning.sweep.storage import load_trial

            self._trial = load_trial(self.sweep_dir, self.trial_number)

    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        scored = self.metric.startswith("train/") or scored_epoch(trainer) == trainer.current_epoch
        value = objective({k: float(v) for k, v in trainer.callback_metrics.items()}, self.metric)
        prune = False
        if trainer.is_global_zero and scored and math.isfinite(value):
            self._trial.report(value, step=trainer.current_epoch + 1)
            prune = self._trial.should_prune()
        if trainer.strategy.broadcast(prune, src=0):
            self.pruned_epoch = trainer.current_epoch + 1
            trainer.should_stop = True
            log.info("Pruned after epoch %d (%s %.4g): stopping, last.ckpt kept", self.pruned_epoch, self.metric, value)
