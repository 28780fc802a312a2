"""``Run``: the context ``train()`` trains in. It locks the run directory, stops cleanly on
Ctrl-C, SIGTERM and SLURM's requeue signal, checks the checkpoint a resume starts from, and
removes what a command created when it fails before training starts.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from gan_lightning.plumbing.errors import Interrupted
from gan_lightning.plumbing.paths import CONFIG_DIR, LAST, find_checkpoint, slurm_job
from gan_lightning.run.lock import RunLock, is_rank_zero
from gan_lightning.run.records import final_metrics, recorded_metrics
from gan_lightning.run.resume import changed_settings, check_networks, finished, load_checkpoint
from gan_lightning.run.signals import Signals

if TYPE_CHECKING:
    from lightning.pytorch import Callback, Trainer

log = logging.getLogger(__name__)

# What Hydra writes into a new run directory before the run itself starts.
HYDRA_FILES = {CONFIG_DIR, "train.log"}


def in_multirun() -> bool:
    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


def typed_overrides() -> list[str]:
    """The overrides of this run as Hydra received them: the run's own and those typed now."""
    return list(HydraConfig.get().overrides.task) if HydraConfig.initialized() else []


class Run:
    """``with Run(cfg) as run:`` around everything ``train()`` does.

    On entry: takes the run's lock (global rank 0) and catches Ctrl-C and SIGTERM. ``resume()``
    prints the run directory and finds and checks the checkpoint a resume starts from. On exit:
    restores the signal handlers, releases the lock and, when the command failed before
    training started or was a dry run (``debug=fdr``), removes what it created (the whole
    directory of a new run).
    """

    def __init__(self, cfg: DictConfig, restored: Sequence[str] = ()) -> None:
        self.cfg = cfg
        self.restored = list(restored)  # the run's own overrides a resume put back, to say so
        self.dir = Path(cfg.paths.output_dir)
        self.signals = Signals()
        self.finished: str | None = None
        self.dry = bool(cfg.trainer.get("fast_dev_run"))  # debug=fdr: a check that leaves nothing behind
        self.final_metrics: dict[str, float] = {}  # a finished run's, as its last checkpoint recorded them
        self._rank_zero = is_rank_zero()
        self._lock = RunLock(self.dir) if self._rank_zero else None
        self._entries_before: set[str] = set()

    def __enter__(self) -> Run:
        self._entries_before = set(os.listdir(self.dir)) if self.dir.is_dir() else set()
        if self._lock is not None:
            self._lock.acquire()
        self.signals.install()
        return self

    def resume(self) -> str | None:
        """Once the config has passed its checks: prints the run directory, and returns the
        checkpoint file to resume from, checked against this run's networks, with every changed
        setting reported; None for a new run. Sets ``finished`` when there is nothing left to
        do. A requeued SLURM job resumes from its own ``last.ckpt``."""
        if self._rank_zero:
            log.info("Run directory: %s", self.dir)
            if self.restored:
                log.info("Resuming as this run: %s", " ".join(self.restored))
        target = self.cfg.get("ckpt_path")
        if target is None and slurm_job() and (self.dir / "checkpoints" / LAST).is_file():
            target = str(self.dir)
            log.info("SLURM job %s started again: resuming from its last.ckpt", slurm_job())
        if target is None:
            return None
        path = find_checkpoint(target, label=f"ckpt_path={target}")
        checkpoint = load_checkpoint(path)
        check_networks(self.cfg, path, checkpoint)
        changed = changed_settings(self.cfg, checkpoint)
        if changed and self._rank_zero:
            log.warning("Resuming with settings that differ from the run's own: %s", ", ".join(changed))
        self.finished = finished(self.cfg, checkpoint)
        if self.finished:
            log.warning("Nothing to do: the run in %s is %s", path, self.finished)
            self.final_metrics = recorded_metrics(checkpoint)
        return str(path)

    def callbacks(self) -> list[Callback]:
        """The run's own: its record in each checkpoint, the signals, what its loggers show."""
        from gan_lightning.callbacks.hyperparameters import LogHyperparameters, readable_hyperparameters
        from gan_lightning.run.callbacks import RunRecord, StopOnSignal

        config, overrides = OmegaConf.to_container(self.cfg, resolve=True), typed_overrides()
        metrics = [self.cfg.optimized_metric, "train/d_loss", "train/g_loss"]
        shown = LogHyperparameters(readable_hyperparameters(self.cfg, overrides), metrics)
        return [RunRecord(config, overrides), StopOnSignal(self.signals), shown]

    def end(self, trainer: Trainer) -> None:
        """After fit: raise ``Interrupted`` if a signal stopped training (requeueing a SLURM
        job first when it was the requeue signal)."""
        signum = self.signals.signum
        if signum is None:
            return
        name = signal.Signals(signum).name
        if not self.signals.cut_short:  # it came during the last scoring or save: the run is whole
            message = f"{name} at step {trainer.global_step}, as the run finished; its result is kept"
            raise Interrupted(signum, message, metrics=final_metrics(trainer))
        saved = (self.dir / "checkpoints" / LAST).is_file()
        where = f"at step {trainer.global_step}; " + ("last.ckpt saved" if saved else "no last_checkpoint callback")
        if signum == self.signals.requeue_signal:
            job = slurm_job()
            if trainer.is_global_zero:
                subprocess.run(["scontrol", "requeue", job.split(".")[0]], check=False)
            raise Interrupted(signum, f"{name} {where}. Requeued SLURM job {job}")
        resume = f". Resume with: gan-train ckpt_path={self.dir}" if saved else ""
        raise Interrupted(signum, f"Interrupted ({name}) {where}{resume}")

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.signals.restore()
        if self._lock is not None:
            self._lock.release()
        failed_early = error is not None and not self.signals.training_started
        if self._rank_zero and not in_multirun():
            if failed_early or self.dry:
                self._remove_what_this_command_created()
            elif self.finished:  # nothing done: no record of this attempt (result.json may be rewritten)
                self._remove_this_attempts_config()
        if self._rank_zero and self.dir.is_dir() and self.signals.training_started:
            log.info("Run directory: %s", self.dir)

    def _remove_what_this_command_created(self) -> None:
        """Nothing trained: a new run's directory goes; a resume loses only this attempt's config."""
        self._remove_this_attempts_config()
        if self._entries_before <= HYDRA_FILES:  # a new run: all of it is this command's
            shutil.rmtree(self.dir, ignore_errors=True)
            return
        for entry in set(os.listdir(self.dir)) - self._entries_before if self.dir.is_dir() else ():
            target = self.dir / entry
            shutil.rmtree(target, ignore_errors=True) if target.is_dir() else target.unlink(missing_ok=True)

    def _remove_this_attempts_config(self) -> None:
        """A resume's ``.hydra/resume_<time>/``: the record of an attempt that did nothing."""
        if HydraConfig.initialized() and self.cfg.get("ckpt_path"):
            subdir = HydraConfig.get().output_subdir
            if subdir and subdir != CONFIG_DIR:
                shutil.rmtree(self.dir / subdir, ignore_errors=True)
