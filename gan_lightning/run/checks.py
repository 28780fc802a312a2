"""Checks of a composed config, made before torch or Lightning is imported: a value no run can
use answers in well under a second, with one line naming the key, and leaves nothing behind.

Each key with a known range is one row of ``RANGES``. The names a key may take are read where
they are defined (``names.py``: the registries of losses, augmentations and metrics, and what a
project's ``imports`` registered), never listed here. Lightning's own names (precisions,
accelerators) are Lightning's: ``tests/test_checks.py`` holds them against its types.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf

from gan_lightning.data.sources import check_source
from gan_lightning.plumbing.errors import UserError
from gan_lightning.plumbing.paths import shipped_classifiers
from gan_lightning.run import names
from gan_lightning.run.devices import ddp_settings, processes_per_node

FEATURES = ("auto", "inception", "stacked_mnist")  # beside the shipped classifiers' names
PRECISIONS = ("transformer-engine", "transformer-engine-float16", "16-true", "16-mixed", "bf16-true", "bf16-mixed")
ACCELERATORS = ("auto", "cpu", "gpu", "cuda", "mps", "tpu", "hpu")  # Lightning's names
PRECISIONS += ("32-true", "64-true", "64", "32", "16", "bf16", 64, 32, 16)  # Lightning's, aliases included


def _losses() -> tuple[str, ...]:
    return tuple(names.LOSSES.names())


def _augmentations() -> tuple[str, ...]:
    return tuple(names.AUGMENTATIONS.names())


def _metrics() -> tuple[str, ...]:
    return tuple(names.METRICS.names())


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
    "trainer.max_time": (
        lambda v: v is None or re.fullmatch(r"\d+:\d\d:\d\d:\d\d", str(v)) is not None,
        'a time budget as "DD:HH:MM:SS" (00:00:30:00 is 30 minutes), or null',
    ),
    "trainer.log_every_n_steps": at_least(1),
    "trainer.num_nodes": at_least(1),
    "trainer.accelerator": (
        lambda v: isinstance(v, DictConfig) or v in ACCELERATORS,
        f"not one of Lightning's: {', '.join(ACCELERATORS)}",
    ),
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
    "callbacks.sample_quality.every_n_epochs": (
        lambda v: _integer(v) and v >= 0,
        "must be an integer, at least 0 (0: no scoring, as callbacks.sample_quality=null)",
    ),
    "callbacks.sample_quality.num_samples": at_least(2),  # a covariance needs two
    "callbacks.sample_quality.cpu_inception_samples": (
        lambda v: v is None or (_integer(v) and v >= 2),
        "must be an integer, at least 2, or null (num_samples, on a CPU too)",
    ),
    "callbacks.sample_quality.batch_size": at_least(1),
    "callbacks.sample_quality.inception_bf16": (lambda v: isinstance(v, bool), "must be true or false"),
    "callbacks.sample_quality.metrics": (
        lambda v: v is None or (isinstance(v, list | ListConfig) and all(name in _metrics() for name in v)),
        lambda: (
            f"unknown metric; the metrics are {', '.join(_metrics())} "
            "(e.g. [fid,kid,prdc]; null for all, [] for no scoring)"
        ),
    ),
    "sweep.seeds": (lambda v: v is None or (_integer(v) and v >= 1), "must be an integer, at least 1, or null"),
}


def _shown(value: Any) -> Any:
    return OmegaConf.to_container(value) if isinstance(value, DictConfig | ListConfig) else value


def _missing_target(target: str) -> str | None:
    """Why ``target`` (``module.Name``) cannot be imported, when that is certain; else None."""
    module, _, name = target.rpartition(".")
    source = names.module_file(module)
    if source is False:
        return f"no module {module} (mistyped, or not installed)"
    if isinstance(source, Path) and not names.binds(module, name):
        return f"{module} has no {name}"
    return None


def _check_targets(node: Any, key: str = "") -> None:
    """Every ``_target_`` names a module that exists and, where its source says so for certain,
    a name the module holds; what this cannot tell is checked when it is built."""
    if isinstance(node, DictConfig):
        target = node.get("_target_") if "_target_" in node else None
        why = _missing_target(target) if isinstance(target, str) and "." in target else None
        if why:
            raise UserError(f"{f'{key}._target_' if key else '_target_'}={target}: {why}")
        for name, child in node.items_ex(resolve=False):
            _check_targets(child, f"{key}.{name}" if key else str(name))
    elif isinstance(node, ListConfig):
        for index, child in enumerate(node):
            _check_targets(child, f"{key}[{index}]")


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
    size, sizes = data.get("image_size"), names.literal("gan_lightning.models.dcgan", "SUPPORTED_SIZES")
    convolutional = {"DCGANGenerator", "DCGANDiscriminator", "ResNetGenerator", "ResNetDiscriminator"}
    if networks & convolutional and size not in sizes:
        raise UserError(
            f"data.image_size={size}: DCGAN and the ResNets make square power-of-two images, one of "
            f"{', '.join(map(str, sizes))}"
        )
    _check_groups(model, int(data.get("batch_size") or 1))


def _check_groups(model: DictConfig, batch_size: int) -> None:
    """A batch must split into PacGAN's packs, and D's inputs into minibatch-std groups."""
    pack = model.get("pack", 1)
    if not _integer(pack) or pack < 1 or batch_size % pack:
        raise UserError(f"model.pack={pack}: must be an integer, at least 1, that divides data.batch_size={batch_size}")
    if pack > 1 and model.get("conditional"):
        raise UserError(f"model.pack={pack}: packing is for unconditional GANs (model.conditional=false)")
    group = (model.get("discriminator") or {}).get("minibatch_std", 0)
    if not _integer(group) or group < 0 or (group and (batch_size // pack) % min(group, batch_size // pack)):
        raise UserError(
            f"model.discriminator.minibatch_std={group}: must be an integer, at least 0 (0: off), that divides "
            f"the {batch_size // pack} inputs D sees at once (data.batch_size / model.pack)"
        )


def check_batchnorm(networks: Iterable[Any], batch_size: int) -> None:
    """Once the networks are built: BatchNorm in training mode needs two images a batch, in any
    network, a project's own included."""
    layers = (m for network in networks for m in network.modules())
    if batch_size < 2 and any(type(m).__name__.startswith(("BatchNorm", "SyncBatchNorm")) for m in layers):
        raise UserError(
            f"data.batch_size={batch_size}: BatchNorm in training needs at least 2 images a batch "
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
    if processes_per_node(trainer) > count:
        raise UserError(f"trainer.devices={_shown(trainer.get('devices'))}: this machine has {count} GPU(s)")


def metric_keys(chosen: Iterable[str]) -> set[str]:
    """The ``val/*`` keys these metrics log, as each registered them (``keys``; its name if none)."""
    registered = names.METRICS.names()
    return {f"val/{key}" for name in chosen for key in registered.get(name, {}).get("keys") or (name,)}


def scored_keys(cfg: DictConfig) -> set[str]:
    """The ``val/*`` keys this run's scoring logs (``callbacks.sample_quality``'s metrics, with
    ``_ema`` twins for an EMA generator); empty when nothing is scored: no such callback,
    ``every_n_epochs=0`` or ``metrics=[]``. A metric that does not apply to the feature network
    (``modes`` for Inception) is left out at run time, with a warning."""
    quality = OmegaConf.select(cfg, "callbacks.sample_quality")
    if not quality or not quality.get("_target_"):
        return set()
    chosen = quality.get("metrics")
    if quality.get("every_n_epochs", 1) == 0 or (chosen is not None and len(chosen) == 0):
        return set()
    keys = metric_keys(_metrics() if chosen is None else chosen)
    if cfg.model.get("ema_decay"):
        keys |= {f"{key}_ema" for key in keys}
    return keys | {"val/eval_seconds"}


def _scoring(cfg: DictConfig, keys: set[str]) -> str:
    """How the run is scored (``keys``: ``scored_keys(cfg)``), for a line that says what a key is
    not among."""
    if not keys:
        return "scoring is off (callbacks.sample_quality), so no val/* is logged"
    metrics = OmegaConf.select(cfg, "callbacks.sample_quality.metrics")
    chosen = "null" if metrics is None else f"[{','.join(map(str, metrics))}]"
    return f"callbacks.sample_quality.metrics={chosen} logs {', '.join(sorted(keys))}"


def _logged(key: str, keys: set[str]) -> bool:
    return key.startswith("train/") or key in keys  # train/*: the step's own


def check_objective(cfg: DictConfig) -> None:
    """A sweep ranks its runs by ``optimized_metric``: it must be a key its runs log."""
    metric, keys = str(cfg.get("optimized_metric")), scored_keys(cfg)
    if not _logged(metric, keys):
        raise UserError(
            f"optimized_metric={metric}: not logged by this sweep's runs: {_scoring(cfg, keys)}. Rank by one of "
            "those, or by a loss-based train/* key (optimized_metric=train/equilibrium_gap)"
        )


def _check_scoring(cfg: DictConfig) -> None:
    """The feature network and Inception file scoring reads, and what best.ckpt monitors."""
    quality = OmegaConf.select(cfg, "callbacks.sample_quality") or {}
    features = quality.get("features", "auto")
    known = (*FEATURES, *shipped_classifiers())
    if features not in known and not (Path(str(features)).suffix and Path(str(features)).is_file()):
        what = "no such file" if Path(str(features)).suffix else "unknown feature network"
        raise UserError(
            f"callbacks.sample_quality.features={features}: {what}; the names are {', '.join(known)}, "
            "or a classifier's weights file (.pt)"
        )
    weights = quality.get("inception_weights")
    if weights is not None and not Path(str(weights)).is_file():
        raise UserError(f"callbacks.sample_quality.inception_weights={weights}: no such file")
    monitor, keys = OmegaConf.select(cfg, "callbacks.best_checkpoint.monitor"), scored_keys(cfg)
    if monitor and keys and not _logged(monitor, keys):
        raise UserError(
            f"callbacks.best_checkpoint.monitor={monitor}: not logged: {_scoring(cfg, keys)}. Monitor one of "
            "those (with callbacks.best_checkpoint.mode=min or max), or callbacks.best_checkpoint=null"
        )


def check_config(cfg: DictConfig, sweep: bool = False) -> None:
    """Refuse values no run can use, before data or models are built; a ``sweep``'s run also
    needs its objective logged. A trainer on several devices gets this template's DDP."""
    _check_ranges(cfg)
    _check_targets(cfg)
    _check_optimizers(cfg.model)
    _check_networks(cfg)
    _check_devices(cfg.trainer)
    _check_scoring(cfg)
    if sweep:
        check_objective(cfg)
    check_source(cfg.data)  # a typed data.root that does not hold the data, before torch
    ddp_settings(cfg.trainer)
