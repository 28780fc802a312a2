"""Checks run before any training: bad values, and a checkpoint that doesn't fit the run."""

from __future__ import annotations

import logging
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf

from gan_lightning.errors import UserError

log = logging.getLogger(__name__)

# Settings a resume is expected to change; the others are reported when they differ.
RESUME_MAY_CHANGE = ("ckpt_path", "paths.", "callbacks.", "logger.", "trainer.max_", "trainer.enable_")


def check_config(cfg: DictConfig) -> None:
    """Refuse values no run can use, before data or models are built."""
    seed = cfg.get("seed")
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise UserError(f"seed={seed}: must be an integer (0 included); it fixes the weights, the data order and z")
    for name in ("g_optimizer", "d_optimizer"):
        optimizer = cfg.model.get(name) or {}
        lr, betas = optimizer.get("lr"), optimizer.get("betas")
        if lr is not None and not lr > 0:
            raise UserError(f"model.{name}.lr={lr}: must be positive")
        if betas is not None and not all(0 <= beta < 1 for beta in betas):
            raise UserError(f"model.{name}.betas={list(betas)}: each must be in [0, 1)")
    batch_size = cfg.data.get("batch_size")
    if batch_size is not None and batch_size < 1:
        raise UserError(f"data.batch_size={batch_size}: must be at least 1")
    if cfg.trainer.get("sync_batchnorm") and cfg.trainer.get("accelerator") == "cpu":
        raise UserError("trainer.sync_batchnorm=true needs GPUs: torch's SyncBatchNorm has no CPU version")


def _flat(tree: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(tree, dict):
        return {k: v for key, value in tree.items() for k, v in _flat(value, f"{prefix}{key}.").items()}
    return {prefix.rstrip("."): tree}


def load_checkpoint(path: str) -> dict[str, Any]:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise UserError(f"ckpt_path={path}: not a readable checkpoint ({type(err).__name__}: {err})") from err


def check_resume(cfg: DictConfig, path: str, checkpoint: dict[str, Any]) -> str | None:
    """Raise if the checkpoint's networks don't fit this run's; warn about changed settings;
    return a message when the checkpoint's run has already reached this run's limits."""
    saved = checkpoint.get("hyper_parameters")
    if not saved or "generator" not in saved:
        raise UserError(f"ckpt_path={path}: not a gan_lightning checkpoint (no generator in its hyperparameters)")
    model = OmegaConf.to_container(cfg.model, resolve=True)
    architecture = ("latent_dim", "generator", "discriminator")
    wanted = _flat({key: model.get(key) for key in architecture}, "model.")
    found = _flat({key: saved.get(key) for key in architecture}, "model.")
    mismatches = [
        f"{k}={found.get(k)} there, {wanted.get(k)} here"
        for k in sorted(wanted | found)
        if wanted.get(k) != found.get(k)
    ]
    if bool(saved.get("ema_decay")) != bool(model.get("ema_decay")):
        mismatches.append(f"model.ema_decay={saved.get('ema_decay')} there, {model.get('ema_decay')} here")
    if mismatches:
        raise UserError(f"ckpt_path={path} holds other networks than this run builds: {'; '.join(mismatches)}")

    before = _flat(checkpoint.get("callbacks", {}).get("LogRunConfig", {}).get("config", {}))
    now = _flat(OmegaConf.to_container(cfg, resolve=True))
    changed = [
        f"{key} {before[key]} -> {now[key]}"
        for key in sorted(before.keys() & now.keys())
        if before[key] != now[key] and not key.startswith(RESUME_MAY_CHANGE)
    ]
    if changed:
        log.warning("Resuming with changed settings (this run's values apply): %s", ", ".join(changed))
    return _finished(cfg, checkpoint)


def _finished(cfg: DictConfig, checkpoint: dict[str, Any]) -> str | None:
    step = checkpoint.get("global_step", 0)
    progress = checkpoint.get("loops", {}).get("fit_loop", {}).get("epoch_progress", {})
    epochs = progress.get("current", {}).get("completed", 0)
    max_steps, max_epochs = cfg.trainer.get("max_steps", -1), cfg.trainer.get("max_epochs")
    if max_steps is not None and max_steps >= 0 and step >= max_steps:
        return f"already at step {step} of trainer.max_steps={max_steps}; raise it to train on"
    if max_epochs is not None and max_epochs >= 0 and epochs >= max_epochs:
        return f"already finished {epochs} epochs of trainer.max_epochs={max_epochs}; raise it to train on"
    return None
