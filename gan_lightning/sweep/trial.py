"""A run's side of a sweep's trial: its objective reported to the study at every scoring, a
clean stop when the pruner says so, and its torch threads when runs share the machine."""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path
from typing import Any

import torch
from hydra.core.hydra_config import HydraConfig
from lightning.pytorch import Callback, LightningModule, Trainer

from gan_lightning.sweep.results import STUDY_FILE, objective

log = logging.getLogger(__name__)


def set_threads_for_parallel_runs() -> int | None:
    """Under joblib's ``n_jobs`` (or submitit's ``cpus_per_task``), give this run's torch
    ``cores // n_jobs`` threads, so that parallel runs do not spin against each other."""
    launcher = HydraConfig.get().launcher
    cores = os.cpu_count() or 1
    if launcher.get("cpus_per_task"):
        threads = int(launcher.cpus_per_task)
    elif launcher.get("n_jobs") not in (None, 1):
        n_jobs = int(launcher.n_jobs)
        threads = max(1, cores // (n_jobs if n_jobs > 0 else cores))
    else:
        return None
    torch.set_num_threads(threads)
    return threads


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
        scored = self.metric.startswith("train/") or any(
            getattr(cb, "scored_epoch", None) == trainer.current_epoch for cb in trainer.callbacks
        )
        value = objective({k: float(v) for k, v in trainer.callback_metrics.items()}, self.metric)
        prune = False
        if trainer.is_global_zero and scored and math.isfinite(value):
            self._trial.report(value, step=trainer.current_epoch + 1)
            prune = self._trial.should_prune()
        if trainer.strategy.broadcast(prune, src=0):
            self.pruned_epoch = trainer.current_epoch + 1
            trainer.should_stop = True
            log.info("Pruned after epoch %d (%s %.4g): stopping, last.ckpt kept", self.pruned_epoch, self.metric, value)


def trial_reporter(metric: str) -> ReportToStudy | None:
    """The reporter of this run, when it is a trial of a sweep with a study."""
    hydra = HydraConfig.get()
    sweep_dir = Path(hydra.sweep.dir)
    if not (sweep_dir / STUDY_FILE).is_file() or not str(hydra.sweep.subdir).isdigit():
        return None
    return ReportToStudy(sweep_dir, int(hydra.sweep.subdir), metric)
