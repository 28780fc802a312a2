"""Checks of a composed config, made before torch or Lightning is imported: a value no run can
use answers in well under a second, with one line naming the key, and leaves nothing behind.

Each key with a known range is one row of ``RANGES``. The names the registries hold (losses,
augmentations, metrics, DCGAN's sizes, networks with BatchNorm) are listed here too, because importing
the registries would import torch; ``tests/test_checks.py`` keeps both lists equal. A name
registered by code that is already loaded (a loss of one's own) counts as well.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf

from gan_lightning.data.sources import check_source
from gan_lightning.errors import UserError

LOSSES = ("bce", "bce_saturating", "hinge", "lsgan", "wgan_gp", "rpgan")  # gan_lightning/losses.py
AUGMENTATIONS = ("translation", "cutout", "color")  # gan_lightning/augment.py
DCGAN_SIZES = (16, 32, 64, 128, 256)  # gan_lightning/models/dcgan.py
BATCHNORM_NETWORKS = ("MLPGenerator", "DCGANGenerator", "DCGANDiscriminator")  # BatchNorm in training mode
METRICS = ("fid", "kid", "is", "modes", "class_acc", "prdc")  # gan_lightning/metrics/registry.py, prdc.py
PRECISIONS = ("transformer-engine", "transformer-engine-float16", "16-true", "16-mixed", "bf16-true", "bf16-mixed")
PRECISIONS += ("32-true", "64-true", "64", "32", "16", "bf16", 64, 32, 16)  # Lightning's, aliases included


def registered(names: tuple[str, ...], module: str, registry: str) -> tuple[str, ...]:
    """``names``, and those registered since in ``module``'s ``registry`` if it is loaded."""
    return tuple(dict.fromkeys((*names, *getattr(sys.modules.get(module), registry, {}))))


def _losses() -> tuple[str, ...]:
    return registered(LOSSES, "gan_lightning.losses", "LOSSES")


def _augmentations() -> tuple[str, ...]:
    return registered(AUGMENTATIONS, "gan_lightning.augment", "AUGMENTATIONS")


def _metrics() -> tuple[str, ...]:
    return registered(METRICS, "gan_lightning.metrics.registry", "METRICS")


def _integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def at_least(low: int) -> tuple[Callable[[Any], bool], str]:
    return (lambda v: _integer(v) and v >= low), f"must be an integer, at least {low}"


def not_negative() -> tuple[Callable[[Any], bool], str]:
    return (lambda v: _number(v) and v >= 0), "must be a number, not negative"


def limit() -> tuple[Callable[[Any], bool], str]:
    return (lambda v: v is None or (_integer(v) and v >= -1)), "must be an integer, at least -1 (-1: no limit)"


# key: (accepted, what the line says). A key absent from the config is not checked.
RANGES: dict[str, tuple[Callable[[Any], bool], str | Callable[[], str]]] = {
    "seed": (_integer, "must be an integer (0 included); it fixes the weights, the data order and z"),
    "model.latent_dim": at_least(1),
    "model.num_fixed_samples": at_least(1),
    "model.d_steps_per_g": at_least(1),
    "model.r1_every": at_least(1),
    "model.gp_weight": not_negative(),
    "model.r1_gamma": not_negative(),
    "model.r2_gamma": not_negative(),
    "model.ema_decay": (lambda v: v is None or (_number(v) and 0 < v < 1), "must be in (0, 1), or null for no EMA"),
    "model.augment_p": (
        lambda v: v is None or v == "ada" or (_number(v) and 0 <= v <= 1),
        "a probability in [0, 1], ada (adapted), or null",
    ),
    "model.ada_target": (lambda v: _number(v) and 0 < v < 1, "must be in (0, 1)"),
    "model.ada_kimg": (lambda v: _number(v) and v > 0, "must be positive"),
    "model.ema_rampup": (lambda v: v is None or (_number(v) and v > 0), "must be positive, or null for none"),
    "model.loss": (lambda v: v in _losses(), lambda: f"not a loss here; the losses are {', '.join(_losses())}"),
    "model.augment": (
        lambda v: isinstance(v, list | ListConfig) and all(op in _augmentations() for op in v),
        lambda: (
            f"unknown augmentation; the ops are {', '.join(_augmentations())} (a list: model.augment=[translation])"
        ),
    ),
    "data.batch_size": at_least(1),
    "data.image_size": at_least(1),
    "data.channels": (lambda v: v in (1, 3), "must be 1 or 3"),
    "data.num_workers": at_least(0),
    "data.limit": (lambda v: v is None or (_integer(v) and v >= 2), "must be an integer, at least 2, or null for all"),
    "trainer.max_epochs": limit(),
    "trainer.max_steps": limit(),
    "trainer.log_every_n_steps": at_least(1),
    "trainer.num_nodes": at_least(1),
    "trainer.precision": (
        lambda v: v in PRECISIONS,
        f"not one of Lightning's: {', '.join(dict.fromkeys(map(str, PRECISIONS)))}",
    ),
    "callbacks.divergence_guard.every_n_steps": at_least(1),
    "callbacks.divergence_guard.patience": at_least(1),
    "callbacks.last_checkpoint.every_n_steps": at_least(1),
    "callbacks.fixed_noise_grid.every_n_steps": at_least(1),
    "callbacks.fixed_noise_grid.nrow": at_least(1),
    "callbacks.periodic_checkpoint.every_n_epochs": at_least(1),
    "callbacks.sample_quality.every_n_epochs": at_least(1),
    "callbacks.sample_quality.num_samples": at_least(2),  # a covariance needs two
    "callbacks.sample_quality.batch_size": at_least(1),
    "callbacks.sample_quality.metrics": (
        lambda v: v is None or (isinstance(v, list | ListConfig) and all(name in _metrics() for name in v)),
        lambda: f"unknown metric; the metrics are {', '.join(_metrics())} (e.g. [fid,kid,prdc], or null for all)",
    ),
    "sweep.seeds": (lambda v: v is None or (_integer(v) and v >= 1), "must be an integer, at least 1, or null"),
}


def _shown(value: Any) -> Any:
    return OmegaConf.to_container(value) if isinstance(value, DictConfig | ListConfig) else value


def _check_ranges(cfg: DictConfig) -> None:
    for key, (accepted, why) in RANGES.items():
        value = OmegaConf.select(cfg, key, default="<absent>")
        if value != "<absent>" and not accepted(value):
            raise UserError(f"{key}={_shown(value)}: {why() if callable(why) else why}")


def _check_optimizers(model: DictConfig) -> None:
    """Positive learning rates, betas in [0, 1); betas typed as integers (``[0,0.9]``) become floats."""
    for name in ("g_optimizer", "d_optimizer"):
        optimizer = model.get(name) or {}
        lr, betas = optimizer.get("lr"), optimizer.get("betas")
        if lr is not None and not (_number(lr) and lr > 0):
            raise UserError(f"model.{name}.lr={lr}: must be positive")
        if betas is not None:
            if not all(_number(beta) and 0 <= beta < 1 for beta in betas) or len(betas) != 2:
                raise UserError(f"model.{name}.betas={_shown(betas)}: two numbers, each in [0, 1)")
            optimizer.betas = [float(beta) for beta in betas]


def _network(node: Any) -> str:
    return str((node or {}).get("_target_", "")).rsplit(".", 1)[-1]


def _check_networks(cfg: DictConfig) -> None:
    model, data = cfg.model, cfg.data
    networks = {_network(model.get("generator")), _network(model.get("discriminator"))}
    size = data.get("image_size")
    if networks & {"DCGANGenerator", "DCGANDiscriminator"} and size not in DCGAN_SIZES:
        raise UserError(
            f"data.image_size={size}: DCGAN makes square power-of-two images, one of {', '.join(map(str, DCGAN_SIZES))}"
        )
    batch = data.get("batch_size")
    if networks & set(BATCHNORM_NETWORKS) and _integer(batch) and batch < 2:
        raise UserError(
            f"data.batch_size={batch}: BatchNorm in training needs at least 2 images a batch "
            "(per process, per discriminator update)"
        )


def _check_devices(trainer: DictConfig) -> None:
    accelerator = trainer.get("accelerator")
    if trainer.get("sync_batchnorm") and accelerator == "cpu":
        raise UserError("trainer.sync_batchnorm=true needs GPUs: torch's SyncBatchNorm has no CPU version")
    if accelerator not in ("gpu", "cuda"):
        return
    import torch  # only for GPU runs: how many there are

    count = torch.cuda.device_count()
    if not count:
        raise UserError(f"trainer.accelerator={accelerator}: no GPU here that torch can use; train with trainer=cpu")
    devices = trainer.get("devices")
    wanted = len(devices) if isinstance(devices, ListConfig) else devices
    if _integer(wanted) and wanted > count:
        raise UserError(f"trainer.devices={_shown(devices)}: this machine has {count} GPU(s)")


def check_config(cfg: DictConfig) -> None:
    """Refuse values no run can use, before data or models are built."""
    _check_ranges(cfg)
    _check_optimizers(cfg.model)
    _check_networks(cfg)
    _check_devices(cfg.trainer)
    check_source(cfg.data)  # a typed data.root that does not hold the data, before torch
