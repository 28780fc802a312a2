"""``last.ckpt``, kept current and written so that a crash never leaves it half-written."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lightning.pytorch import Callback, LightningModule, Trainer
from lightning.pytorch.callbacks import ModelCheckpoint

from gan_lightning.run.paths import LAST


class LastCheckpoint(Callback):
    """Saves ``<dirpath>/last.ckpt`` every ``every_n_steps`` iterations, at each epoch end,
    at the end of training, and at the iteration where a Ctrl-C or SIGTERM stops it: saved
    there, mid-epoch, before Lightning counts the cut-short epoch as finished, so a resume goes
    on with the rest of that epoch. Writes are atomic through ``AtomicCheckpointIO``
    (configured on the trainer).
    """

    def __init__(self, dirpath: str, every_n_steps: int = 500) -> None:
        self.dirpath = Path(dirpath)
        self.every_n_steps = every_n_steps
        self._last_saved_step: int | None = None

    @property
    def path(self) -> Path:
        return self.dirpath / LAST

    def on_train_batch_end(self, trainer: Trainer, pl_module: LightningModule, *args: Any) -> None:
        due = self.every_n_steps > 0 and trainer.global_step % self.every_n_steps == 0
        if due or trainer.should_stop:  # stopping: the run's StopOnSignal ran first
            self.save(trainer)

    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self.save(trainer)

    def on_train_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self.save(trainer)

    # Nothing is saved on an exception: mid-step state may be inconsistent or diverged, and
    # last.ckpt keeps the last good state.

    def save(self, trainer: Trainer) -> None:
        if trainer.fast_dev_run or trainer.sanity_checking or self._last_saved_step == trainer.global_step:
            return
        trainer.save_checkpoint(self.path, weights_only=False)  # collective; only global rank 0 writes
        self._last_saved_step = trainer.global_step


class BestCheckpoint(ModelCheckpoint):
    """Lightning's ModelCheckpoint of the best ``monitor`` value (``best.ckpt`` by ``val/fid``),
    silent on epochs without that value: unscored epochs (``every_n_epochs`` > 1) and runs that
    cannot be scored, which say so once themselves (``No val/fid for this run: ...``)."""

    def _save_topk_checkpoint(self, trainer: Trainer, monitor_candidates: dict[str, Any]) -> None:
        if self.monitor in monitor_candidates:
            super()._save_topk_checkpoint(trainer, monitor_candidates)
