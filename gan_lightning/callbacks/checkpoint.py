"""``last.ckpt``, kept current and written so that a crash never leaves it half-written."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lightning.pytorch import Callback, LightningModule, Trainer
from lightning.pytorch.callbacks import ModelCheckpoint

from gan_lightning.plumbing.paths import LAST


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
        self.saved_step: int | None = None  # the step last.ckpt holds, once this command knows it

    @property
    def path(self) -> Path:
        return self.dirpath / LAST

    def on_train_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if trainer.ckpt_path and Path(trainer.ckpt_path).resolve() == self.path.resolve():
            self.saved_step = trainer.global_step  # resumed from it: it holds this step

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
        if trainer.fast_dev_run or trainer.sanity_checking or self.saved_step == trainer.global_step:
            return
        trainer.save_checkpoint(self.path, weights_only=False)  # collective; only global rank 0 writes
        self.saved_step = trainer.global_step


class BestCheckpoint(ModelCheckpoint):
    """Lightning's ModelCheckpoint of the best ``monitor`` value (``best.ckpt`` by ``val/fid``),
    silent on epochs without that value: unscored epochs (``every_n_epochs`` > 1) and runs that
    cannot be scored, which say so once themselves (``No val/fid for this run: ...``).

    One file, replaced (atomically, by the trainer's checkpoint IO) when beaten, across any
    number of resumes. A resume takes the best so far from that file: the state other
    checkpoints hold was saved before this callback ran at their step, so it lags behind."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, enable_version_counter=False, **kwargs)

    @property
    def best_file(self) -> Path:
        return Path(self.dirpath or ".") / f"{self.filename}{self.FILE_EXTENSION}"

    def on_fit_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if self.best_file.is_file():
            import torch

            saved = torch.load(self.best_file, map_location="cpu", weights_only=True)
            state = saved.get("callbacks", {}).get(self.state_key)
            if state:
                self.load_state_dict(state)

    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if self.monitor in trainer.callback_metrics:  # else silent: nothing to compare
            super().on_train_epoch_end(trainer, pl_module)

    def on_validation_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if self.monitor in trainer.callback_metrics:
            super().on_validation_end(trainer, pl_module)
