"""What a run shows its loggers: a readable set of hyperparameters (TensorBoard's HParams tab
compares runs by them, against the sweep objective), and its last scalars, also when the run
was shorter than ``trainer.log_every_n_steps``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lightning.pytorch import Callback, LightningModule, Trainer
from lightning.pytorch.core.saving import save_hparams_to_yaml
from lightning.pytorch.loggers import TensorBoardLogger
from omegaconf import DictConfig, OmegaConf

# Model settings that are not hyperparameters of the method.
NOT_HYPERPARAMETERS = ("seed", "num_fixed_samples", "channels_last", "compile", "compile_backend")
OPTIMIZER_KEYS = ("lr", "betas.0", "betas.1", "weight_decay")


def _flat(tree: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(tree, dict):
        return {k: v for key, value in tree.items() for k, v in _flat(value, f"{prefix}{key}.").items()}
    if isinstance(tree, list):
        return {k: v for i, value in enumerate(tree) for k, v in _flat(value, f"{prefix}{i}.").items()}
    return {prefix.rstrip("."): tree}


def readable_hyperparameters(cfg: DictConfig, overrides: list[str]) -> dict[str, Any]:
    """The model's and the optimizers' settings, the data's batch and size, the seed, and each
    override as typed: a dozen values, not every path of the config."""
    model = OmegaConf.to_container(cfg.model, resolve=True)
    params: dict[str, Any] = {"seed": cfg.seed}
    for key, value in model.items():
        if key in ("generator", "discriminator"):
            params[f"model.{key}"] = str(value.get("_target_", "")).rsplit(".", 1)[-1]
        elif key.endswith("optimizer") and isinstance(value, dict):
            flat = _flat(value)
            params |= {f"model.{key}.{k}": flat[k] for k in OPTIMIZER_KEYS if flat.get(k) is not None}
        elif not key.startswith("_") and key not in NOT_HYPERPARAMETERS and not isinstance(value, dict | list):
            params[f"model.{key}"] = value
    for key in ("batch_size", "image_size"):
        if key in cfg.data:
            params[f"data.{key}"] = cfg.data[key]
    for override in overrides:
        key, _, value = override.lstrip("+~").partition("=")
        params.setdefault(key, value)
    return {key: value if isinstance(value, int | float | str | bool) else str(value) for key, value in params.items()}


class LogHyperparameters(Callback):
    """At setup, hands ``params`` (plus ``data/source``, what the run really trains on) to every
    logger; TensorBoard's HParams tab also gets ``metrics``, the scalar tags it compares runs by
    (the sweep objective, the final losses). At the end of training, logs the last ``train/*``
    values when the last iteration was not a logging one."""

    def __init__(self, params: dict[str, Any], metrics: list[str]) -> None:
        self.params = params
        self.metrics = metrics

    def setup(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        params = {**self.params, "data/source": getattr(trainer.datamodule, "source", "")}
        for logger in trainer.loggers:
            logger.log_hyperparams(params)
            if isinstance(logger, TensorBoardLogger) and trainer.is_global_zero:
                from torch.utils.tensorboard.summary import hparams

                # Named, not logged: the HParams tab reads each metric's last value from the
                # run's own scalars, so val/fid is never given a fake point at step 0.
                writer = logger.experiment.file_writer
                for summary in hparams(params, dict.fromkeys(self.metrics, 0.0)):
                    writer.add_summary(summary)
                # TensorBoard's logger writes hparams.yaml only when there is none: a resumed run
                # would keep its first command's settings there.
                save_hparams_to_yaml(Path(logger.log_dir) / "hparams.yaml", logger.hparams)

    def on_train_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        last = trainer.global_step  # the x of the last iteration's scalars
        if last < 1 or trainer.fast_dev_run or trainer.global_step % trainer.log_every_n_steps == 0:
            return  # Lightning logged that iteration itself
        scalars = {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("train/")}
        if scalars:
            for logger in trainer.loggers:
                logger.log_metrics(scalars, step=last)
