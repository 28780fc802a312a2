"""``last.ckpt``, kept current and written so that a crash never leaves it half-written."""

from __future__ import annotations

import logging
import signal
import threading
from pathlib import Path
from typing import Any

from lightning.pytorch import Callback, LightningModule, Trainer

from gan_lightning.errors import UserError

log = logging.getLogger(__name__)

LAST = "last.ckpt"


def run_dir_of(target: str | Path) -> Path:
    """The run directory named by ``target``: itself, or the run a checkpoint file sits in
    (``<run>/checkpoints/<file>``)."""
    path = Path(target)
    return path if path.is_dir() else path.parent.parent


def find_checkpoint(target: str | Path, label: str | None = None) -> Path:
    """``target`` is a checkpoint file or a run directory (meaning its ``checkpoints/last.ckpt``);
    a missing one is a UserError that starts with ``label`` (default: the target itself)."""
    path = Path(target)
    ckpt = path / "checkpoints" / LAST if path.is_dir() else path
    if not ckpt.is_file():
        raise UserError(f"{label or target}: no checkpoint at {ckpt}")
    return ckpt


class LastCheckpoint(Callback):
    """Saves ``<dirpath>/last.ckpt`` every ``every_n_steps`` iterations, at each epoch end,
    at the end of training, and when the user presses Ctrl-C.

    The first Ctrl-C asks training to stop after the current (D, G) iteration, so the
    checkpoint holds a consistent state; a second Ctrl-C aborts at once. Writes are atomic
    through ``AtomicCheckpointIO`` (configured on the trainer).
    """

    def __init__(self, dirpath: str, every_n_steps: int = 500) -> None:
        self.dirpath = Path(dirpath)
        self.every_n_steps = every_n_steps
        self.interrupted = False
        self._stop_requested = False
        self._last_saved_step: int | None = None
        self._previous_handler: Any = None

    @property
    def path(self) -> Path:
        return self.dirpath / LAST

    def on_train_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if threading.current_thread() is threading.main_thread():
            self._previous_handler = signal.signal(signal.SIGINT, self._request_stop)

    def _request_stop(self, signum: int, frame: Any) -> None:
        if self._stop_requested:
            raise KeyboardInterrupt
        self._stop_requested = True
        log.warning("Ctrl-C: stopping after this iteration and saving %s (Ctrl-C again to abort now)", self.path)

    def on_train_batch_end(self, trainer: Trainer, pl_module: LightningModule, *args: Any) -> None:
        # Every rank must stop at the same iteration, or DDP would hang in its next all-reduce.
        if trainer.strategy.reduce_boolean_decision(self._stop_requested, all=False):
            self.interrupted = trainer.should_stop = True
        if self.every_n_steps > 0 and trainer.global_step % self.every_n_steps == 0:
            self.save(trainer)

    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self.save(trainer)

    def on_train_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self.save(trainer)
        self._restore_handler()

    def on_exception(self, trainer: Trainer, pl_module: LightningModule, exception: BaseException) -> None:
        # Nothing is saved here: mid-step state may be inconsistent or diverged; last.ckpt
        # keeps the last good state.
        self._restore_handler()

    def _restore_handler(self) -> None:
        if self._previous_handler is not None:
            signal.signal(signal.SIGINT, self._previous_handler)
            self._previous_handler = None

    def save(self, trainer: Trainer) -> None:
        if trainer.fast_dev_run or trainer.sanity_checking or self._last_saved_step == trainer.global_step:
            return
        trainer.save_checkpoint(self.path, weights_only=False)  # collective; only global rank 0 writes
        self._last_saved_step = trainer.global_step
