"""Logs a run's composed config as hyperparameters, with the data actually used."""

from __future__ import annotations

from typing import Any

from lightning.pytorch import Callback, LightningModule, Trainer


class LogRunConfig(Callback):
    """At setup, right after the data module's, logs ``config`` plus ``data/source`` (so
    Lightning's ``hparams.yaml`` holds them); at train end logs them again with the final
    ``train/*`` values as ``hp/*`` metrics, which TensorBoard's HParams tab compares runs by.
    """

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config

    def state_dict(self) -> dict[str, Any]:
        # Saved in each checkpoint, so a resume can name the settings that changed.
        return {"config": self.config}

    def _params(self, trainer: Trainer) -> dict[str, Any]:
        return {**self.config, "data/source": getattr(trainer.datamodule, "source", "")}

    def setup(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        for logger in trainer.loggers:
            logger.log_hyperparams(self._params(trainer))

    def on_train_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        metrics = {
            "hp/" + name.removeprefix("train/"): float(value)
            for name, value in trainer.callback_metrics.items()
            if name.startswith("train/")
        }
        if metrics:
            for logger in trainer.loggers:
                logger.log_hyperparams(self._params(trainer), metrics)
