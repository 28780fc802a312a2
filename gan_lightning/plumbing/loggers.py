"""What reaches each logger beyond scalars and hyperparameters (which every Lightning logger
takes): images. One writer per kind of logger that takes them; a logger with none (CSV) is
skipped, as the grids are also PNGs in the run directory. A new logger is one entry.

And ``CSVLogger``: Lightning's, continuing a resumed run's ``metrics.csv``."""

from __future__ import annotations

import csv
from collections.abc import Callable
from typing import Any

import numpy as np
from lightning.pytorch import loggers
from lightning.pytorch.loggers import Logger
from lightning.pytorch.loggers.csv_logs import ExperimentWriter
from lightning.pytorch.loggers.logger import rank_zero_experiment
from torch import Tensor


class _ContinuedWriter(ExperimentWriter):
    """Lightning's CSV writer deletes the ``metrics.csv`` it finds. This one keeps its rows up
    to the step the run resumed from, drops those of iterations the resume trains again (a run
    killed after its last checkpoint logged them once already), and appends after them."""

    def _check_log_dir_exists(self) -> None:
        self._found: list[dict[str, Any]] | None = None
        if self._fs.isfile(self.metrics_file_path):
            with self._fs.open(self.metrics_file_path, "r", newline="") as file:
                reader = csv.DictReader(file)
                self._found = list(reader)
                self.metrics_keys = list(reader.fieldnames or [])

    def save(self) -> None:
        if self._found is not None and self.metrics:
            first = min(int(row["step"]) for row in self.metrics)
            kept = [row for row in self._found if int(float(row["step"])) < first]
            with self._fs.open(self.metrics_file_path, "w", newline="") as file:
                writer = csv.DictWriter(file, fieldnames=self.metrics_keys)
                writer.writeheader()
                writer.writerows(kept)
            self._found = None
        super().save()


class CSVLogger(loggers.CSVLogger):
    """Lightning's CSVLogger, whose ``metrics.csv`` goes on across a resume (``_ContinuedWriter``)."""

    @property
    @rank_zero_experiment
    def experiment(self) -> ExperimentWriter:
        if self._experiment is None:
            self._fs.makedirs(self.root_dir, exist_ok=True)
            self._experiment = _ContinuedWriter(log_dir=self.log_dir)
        return self._experiment


def _tensorboard(logger: Logger, tag: str, grid: Tensor, step: int) -> None:
    logger.experiment.add_image(tag, grid, global_step=step)


def _pixels(grid: Tensor) -> np.ndarray:
    """(C, H, W) floats in [0, 1] -> (H, W, C) uint8."""
    return (grid.clamp(0, 1) * 255).round().byte().permute(1, 2, 0).cpu().numpy()


def _mlflow(logger: Logger, tag: str, grid: Tensor, step: int) -> None:
    logger.experiment.log_image(logger.run_id, _pixels(grid), artifact_file=f"{tag}/step{step:07d}.png")


def _wandb(logger: Logger, tag: str, grid: Tensor, step: int) -> None:
    logger.log_image(key=tag, images=[_pixels(grid)], step=step)


IMAGE_WRITERS: dict[str, Callable[[Logger, str, Tensor, int], None]] = {
    "TensorBoardLogger": _tensorboard,
    "MLFlowLogger": _mlflow,
    "WandbLogger": _wandb,
}


def log_image(loggers: list[Logger], tag: str, grid: Tensor, step: int) -> None:
    """``grid`` ((C, H, W) in [0, 1]) under ``tag`` at ``step``, for every logger that takes images."""
    for logger in loggers:
        writer = next((IMAGE_WRITERS[c.__name__] for c in type(logger).__mro__ if c.__name__ in IMAGE_WRITERS), None)
        if writer is not None:
            writer(logger, tag, grid, step)
