"""What reaches each logger beyond scalars and hyperparameters (which every Lightning logger
takes): images. One writer per kind of logger that takes them; a logger with none (CSV) is
skipped, as the grids are also PNGs in the run directory. A new logger is one entry."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from lightning.pytorch.loggers import Logger
from torch import Tensor


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
