"""Checks of a composed config, made before anything is built or trained."""

from __future__ import annotations

from omegaconf import DictConfig

from gan_lightning.data.sources import check_source
from gan_lightning.errors import UserError


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
    accelerator = cfg.trainer.get("accelerator")
    if cfg.trainer.get("sync_batchnorm") and accelerator == "cpu":
        raise UserError("trainer.sync_batchnorm=true needs GPUs: torch's SyncBatchNorm has no CPU version")
    if accelerator in ("gpu", "cuda"):
        import torch

        if not torch.cuda.is_available():
            raise UserError(
                f"trainer.accelerator={accelerator}: no GPU here that torch can use; train with trainer=cpu"
            )
    check_source(cfg.data)  # a typed data.root that does not hold the data, before torch
