"""The run's Lightning callbacks: its record in every checkpoint, and the stop a signal asks for."""

from __future__ import annotations

import signal
from typing import Any

import torch
from lightning.fabric.plugins.environments import SLURMEnvironment
from lightning.pytorch import Callback, LightningModule, Trainer

from gan_lightning.plumbing.errors import Interrupted
from gan_lightning.plumbing.paths import slurm_job
from gan_lightning.plumbing.private_api import cluster_environment, forget_sigterm
from gan_lightning.run.records import logged_metrics
from gan_lightning.run.signals import Signals


class RunRecord(Callback):
    """What makes a run itself, saved in every checkpoint: its resolved config (so a resume
    can name each setting that changed, and gan-eval can rebuild its data) and its overrides
    (so a checkpoint moved out of its run directory still resumes as that run)."""

    def __init__(self, config: dict[str, Any], overrides: list[str]) -> None:
        self.config, self.overrides = config, overrides
        self.trainer: Trainer | None = None

    def setup(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        self.trainer = trainer

    def state_dict(self) -> dict[str, Any]:
        # The metrics logged so far: a finished run's result.json can be written from its
        # last checkpoint, should the command have been stopped before it wrote it.
        metrics = logged_metrics(self.trainer) if self.trainer is not None else {}
        return {
            "config": self.config,
            "overrides": self.overrides,
            "metrics": metrics,
        }

    def on_save_checkpoint(self, trainer: Trainer, pl_module: LightningModule, checkpoint: dict[str, Any]) -> None:
        if trainer.fit_loop.epoch_loop.batch_progress.current.completed >= trainer.num_training_batches:
            at_start_of_next_epoch(checkpoint)


def at_start_of_next_epoch(checkpoint: dict[str, Any]) -> None:
    """Make a checkpoint saved once an epoch's batches are all done (at the epoch's end, or
    at the end of training) the one of the next epoch's start, which it is.

    Lightning records such a checkpoint as mid-way through closing the epoch (processed, not
    completed): with ``trainer.max_steps`` set it resumes into the epoch it closed (one more
    iteration, a second scoring of that epoch), without it it starts the next epoch with the
    data order of the first. Its counters are Lightning's checkpoint format
    (``loops.fit_loop``), not an API: a Lightning upgrade that changes them fails the resume
    tests that start from epoch-end checkpoints.
    """
    loops = checkpoint["loops"]["fit_loop"]
    for counts in loops["epoch_progress"].values():
        # As saved at the next epoch's on_train_epoch_start: ready for it, nothing more. Then
        # Lightning restores the data's position too, which it skips for a finished epoch.
        done = counts["processed"]
        counts.update(ready=done + 1, started=done, processed=done, completed=done)
    batches = loops["epoch_loop.batch_progress"]
    batches["current"] = dict.fromkeys(batches["current"], 0)
    batches["is_last_batch"] = False
    checkpoint["epoch"] = loops["epoch_progress"]["current"]["completed"]


class StopOnSignal(Callback):
    """Acts on the run's ``Signals``: once one arrived on any rank, every rank stops after the
    same iteration, and ``last.ckpt`` is saved at the end of training as usual."""

    def __init__(self, signals: Signals) -> None:
        self.signals = signals

    def on_train_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        signals = self.signals
        environment = cluster_environment(trainer)
        if isinstance(environment, SLURMEnvironment) and environment.auto_requeue and slurm_job():
            signals.requeue_signal = int(environment.requeue_signal or signal.SIGUSR1)
        # When fit began, Lightning put its own handlers in place of the run's: its SIGTERM one
        # ends training without a checkpoint and with exit status 0. Take them back, and forget
        # a SIGTERM Lightning saw while setting up: the run's handler saw it too.
        signals.install((signal.SIGTERM,) + ((signals.requeue_signal,) if signals.requeue_signal else ()))
        forget_sigterm(trainer)
        # A signal during set-up (on any rank): every rank stops here, nothing trained, nothing
        # saved; the command then removes what it created, as for any failure before training.
        if self._agreed(trainer):
            name = signal.Signals(signals.signum).name
            raise Interrupted(signals.signum, f"Interrupted ({name}) during set-up: nothing trained, nothing saved")
        signals.training_started = True

    def on_train_batch_end(self, trainer: Trainer, pl_module: LightningModule, *args: Any) -> None:
        # Every rank must stop at the same iteration, or DDP would hang in its next all-reduce.
        if self._agreed(trainer):
            self.signals.cut_short = True
            trainer.should_stop = True

    def _agreed(self, trainer: Trainer) -> bool:
        """Whether a signal arrived on any rank; every rank then holds the one some rank got."""
        signals = self.signals
        if not trainer.strategy.reduce_boolean_decision(signals.signum is not None, all=False):
            return False
        signum = torch.tensor(signals.signum or 0, device=trainer.strategy.root_device)
        signals.signum = int(trainer.strategy.reduce(signum, reduce_op="max"))
        return True
