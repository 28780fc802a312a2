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
import threading
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from gan_lightning.errors import Interrupted, UserError
from gan_lightning.run import overrides as restored_overrides
from gan_lightning.run.lock import RunLock, is_rank_zero
from gan_lightning.run.paths import CONFIG_DIR, LAST, find_checkpoint, slurm_job

if TYPE_CHECKING:
    from lightning.pytorch import Callback, Trainer

log = logging.getLogger(__name__)

# Settings that decide the networks' shapes: a checkpoint with other values cannot be resumed.
# Those added later count as their default in older checkpoints.
ARCHITECTURE = {"latent_dim": None, "generator": None, "discriminator": None, "spectral_norm": False, "num_classes": 0}
# Keys added to the networks' configs later, as their default in older checkpoints.
NETWORK_DEFAULTS = {"model.discriminator.batch_norm": True}
# What Hydra writes into a new run directory before the run itself starts.
HYDRA_FILES = {CONFIG_DIR, "train.log"}


def in_multirun() -> bool:
    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


def typed_overrides() -> list[str]:
    """The overrides of this run as Hydra received them: the run's own and those typed now."""
    return list(HydraConfig.get().overrides.task) if HydraConfig.initialized() else []


def stored_config(checkpoint: dict[str, Any]) -> dict[str, Any] | None:
    """The run config a checkpoint holds (``LogRunConfig`` in checkpoints of earlier versions)."""
    states = checkpoint.get("callbacks", {})
    return (states.get("RunRecord") or states.get("LogRunConfig") or {}).get("config")


class Signals:
    """Ctrl-C (SIGINT), SIGTERM (what schedulers send on preemption) and, under SLURM with
    auto-requeue, its requeue signal: the first asks training to stop after the iteration under
    way (``signum`` records it; the ``StopOnSignal`` callback acts on it), a second one aborts
    at once, without saving."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self.cut_short = False  # training stopped at an iteration for it (else it came after the last)
        self.requeue_signal: int | None = None
        self._previous: dict[int, Any] = {}

    def install(self, signums: tuple[int, ...] = (signal.SIGINT, signal.SIGTERM)) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        for signum in signums:
            previous = signal.signal(signum, self._handle)
            self._previous.setdefault(signum, previous)

    def restore(self) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()

    def _handle(self, signum: int, frame: Any) -> None:
        name = signal.Signals(signum).name
        if self.signum is not None:
            raise Interrupted(signum, f"{name} again: stopped at once, nothing saved")
        self.signum = signum
        again = "Ctrl-C" if signum == signal.SIGINT else name
        log.warning("%s: stopping after this iteration and saving last.ckpt (%s again stops at once)", name, again)


def _first_sentence(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0].split('. ')[0][:160] if text else ''}"


def load_checkpoint(path: Path) -> dict[str, Any]:
    """The checkpoint at ``path``; an unreadable one is a UserError that names the newest
    checkpoint of the same run that does load, as the command to resume from."""
    import torch

    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        message = f"{path} is not a readable checkpoint ({_first_sentence(err)})"
        for other in sorted(path.parent.glob("*.ckpt"), key=lambda p: p.stat().st_mtime, reverse=True):
            if other.resolve() == path.resolve():
                continue
            try:
                torch.load(other, map_location="cpu", weights_only=True)
            except Exception:
                continue
            message += f"; the newest that loads is {other.name}: gan-train ckpt_path={other}"
            break
        raise UserError(message) from err


def _flat(tree: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(tree, dict):
        return {k: v for key, value in tree.items() for k, v in _flat(value, f"{prefix}{key}.").items()}
    return {prefix.rstrip("."): tree}


def check_networks(cfg: DictConfig, path: Path, checkpoint: dict[str, Any]) -> None:
    """Raise if the checkpoint holds other networks than ``cfg`` builds."""
    saved = checkpoint.get("hyper_parameters")
    if not saved or "generator" not in saved:
        raise UserError(f"ckpt_path={path}: not a gan_lightning checkpoint (no generator in its hyperparameters)")
    model = OmegaConf.to_container(cfg.model, resolve=True)
    if model.get("conditional"):
        model["num_classes"] = saved.get("num_classes", 0) or "the data's"  # counted from the data at fit
    wanted = _flat({key: model.get(key, default) for key, default in ARCHITECTURE.items()}, "model.")
    found = _flat({key: saved.get(key, default) for key, default in ARCHITECTURE.items()}, "model.")
    for key, default in NETWORK_DEFAULTS.items():  # set on one side only: the other had the default
        if (key in wanted) != (key in found):
            (found if key in wanted else wanted)[key] = default
    differ = [k for k in sorted(wanted | found, key=lambda k: (k.count("."), k)) if wanted.get(k) != found.get(k)]
    # model.generator.latent_dim follows model.latent_dim: one difference, named once.
    named: set[tuple[str, Any, Any]] = set()
    mismatches = []
    for k in differ:
        seen = (k.rsplit(".", 1)[-1], repr(found.get(k)), repr(wanted.get(k)))
        if seen not in named:
            named.add(seen)
            mismatches.append(f"{k}={found.get(k)} there, {wanted.get(k)} here")
    for key in ("ema_decay", "augment_p"):  # state beside the weights: an EMA generator, ADA's p
        if bool(saved.get(key)) != bool(model.get(key)):
            mismatches.append(f"model.{key}={saved.get(key)} there, {model.get(key)} here")
    if mismatches:
        raise UserError(f"ckpt_path={path} holds other networks than this run builds: {'; '.join(mismatches)}")


def changed_settings(cfg: DictConfig, checkpoint: dict[str, Any]) -> list[str]:
    """Each setting that differs from the run's own, ``old -> new``."""
    before = _flat(stored_config(checkpoint) or {})
    if not before:
        return []
    now = _flat(OmegaConf.to_container(cfg, resolve=True))
    keys = sorted((before.keys() | now.keys()) - {"ckpt_path"})
    absent = "(not set)"
    return [f"{k} {before.get(k, absent)} -> {now.get(k, absent)}" for k in keys if before.get(k) != now.get(k)]


def recorded_metrics(checkpoint: dict[str, Any]) -> dict[str, float]:
    """The metrics a checkpoint's run had logged when it was saved, with its step and epochs."""
    metrics = (checkpoint.get("callbacks", {}).get("RunRecord") or {}).get("metrics") or {}
    return {
        **metrics,
        "iterations": float(checkpoint.get("global_step", 0)),
        "epochs": float(checkpoint.get("epoch", 0)),
    }


def logged_metrics(trainer: Trainer) -> dict[str, float]:
    """The metrics logged last, as floats; ``step`` (the x the scalars are logged at) is none."""
    return {name: float(value) for name, value in trainer.callback_metrics.items() if name != "step"}


def final_metrics(trainer: Trainer) -> dict[str, float]:
    """The metrics logged last, the step count (``iterations``) and the epochs trained, in
    whole and partial epochs."""
    metrics = logged_metrics(trainer)
    batches = trainer.num_training_batches
    epochs = trainer.global_step / batches if batches and batches != float("inf") else trainer.current_epoch
    return {**metrics, "iterations": float(trainer.global_step), "epochs": round(float(epochs), 3)}


def finished(cfg: DictConfig, checkpoint: dict[str, Any]) -> str | None:
    """Why there is nothing to do, if the checkpoint's run already reached this run's limits."""
    step = checkpoint.get("global_step", 0)
    progress = checkpoint.get("loops", {}).get("fit_loop", {}).get("epoch_progress", {})
    epochs = progress.get("current", {}).get("completed", 0)
    max_steps, max_epochs = cfg.trainer.get("max_steps", -1), cfg.trainer.get("max_epochs")
    if max_steps is not None and max_steps >= 0 and step >= max_steps:
        return f"already at step {step} of trainer.max_steps={max_steps}; raise it to train on"
    if max_epochs is not None and max_epochs >= 0 and epochs >= max_epochs:
        return f"already finished {epochs} epochs of trainer.max_epochs={max_epochs}; raise it to train on"
    return None


class Run:
    """``with Run(cfg) as run:`` around everything ``train()`` does.

    On entry: takes the run's lock (global rank 0) and catches Ctrl-C and SIGTERM. ``resume()``
    prints the run directory and finds and checks the checkpoint a resume starts from. On exit:
    restores the signal handlers, releases the lock and, when the command failed before
    training started or was a dry run (``debug=fdr``), removes what it created (the whole
    directory of a new run).
    """

    def __init__(self, cfg: DictConfig) -> None:
        self.cfg = cfg
        self.dir = Path(cfg.paths.output_dir)
        self.signals = Signals()
        self.started = False  # set when training starts: from then on the run directory is kept
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
            if restored_overrides.restored:
                log.info("Resuming as this run: %s", " ".join(restored_overrides.restored))
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
        return [RunRecord(config, overrides), StopOnSignal(self), shown]

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
        failed_early = error is not None and not self.started
        if (failed_early or self.dry) and self._rank_zero and not in_multirun():
            self._remove_what_this_command_created()
        if self._rank_zero and self.dir.is_dir() and self.started:
            log.info("Run directory: %s", self.dir)

    def _remove_what_this_command_created(self) -> None:
        """Nothing trained: a new run's directory goes; a resume loses only this attempt's config."""
        if HydraConfig.initialized() and self.cfg.get("ckpt_path"):
            subdir = HydraConfig.get().output_subdir
            if subdir and subdir != CONFIG_DIR:
                shutil.rmtree(self.dir / subdir, ignore_errors=True)
        if self._entries_before <= HYDRA_FILES:  # a new run: all of it is this command's
            shutil.rmtree(self.dir, ignore_errors=True)
            return
        for entry in set(os.listdir(self.dir)) - self._entries_before if self.dir.is_dir() else ():
            target = self.dir / entry
            shutil.rmtree(target, ignore_errors=True) if target.is_dir() else target.unlink(missing_ok=True)
