"""The checks a resume makes on its checkpoint: it loads (or the newest one that does is named),
it holds the networks this run builds, which settings changed, and whether anything is left to do."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from gan_lightning.plumbing.errors import UserError
from gan_lightning.run.records import stored_config

# Settings that decide the networks' shapes: a checkpoint with other values cannot be resumed.
# Those added later count as their default in older checkpoints.
ARCHITECTURE = {"latent_dim": None, "generator": None, "discriminator": None, "spectral_norm": False, "num_classes": 0}
# Keys added to the networks' configs later, as their default in older checkpoints.
NETWORK_DEFAULTS = {"model.discriminator.batch_norm": True}


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
