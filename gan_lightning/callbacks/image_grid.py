"""Renders the generator's output for the run's fixed noise to TensorBoard and to PNGs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from lightning.pytorch import Callback, LightningModule, Trainer
from torchvision.utils import make_grid, save_image

from gan_lightning.plumbing.loggers import log_image
from gan_lightning.sampling import generate

TAG = "samples/fixed_noise"


class FixedNoiseGrid(Callback):
    """Every ``every_n_steps`` iterations and at each epoch end, draws G(fixed_noise) in eval
    mode as an ``nrow``-wide grid: logged under ``samples/fixed_noise`` to every logger that
    takes images (``gan_lightning/plumbing/loggers.py``) and saved as
    ``<dirpath>/step<NNNNNNN>.png``; with an EMA generator, its grid too, under
    ``samples/fixed_noise_ema`` and ``step<NNNNNNN>_ema.png``. The noise is the module's
    ``fixed_noise`` buffer, so the grids of a run, resumed or not, are comparable frame to frame.
    """

    def __init__(self, dirpath: str, every_n_steps: int = 500, nrow: int = 8) -> None:
        self.dirpath = Path(dirpath)
        self.every_n_steps = every_n_steps
        self.nrow = nrow
        self._last_step: int | None = None

    def on_train_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if trainer.global_step == 0:
            self.render(trainer, pl_module)  # the untrained generator, as a baseline frame

    def on_train_batch_end(self, trainer: Trainer, pl_module: LightningModule, *args: Any) -> None:
        if self.every_n_steps > 0 and trainer.global_step % self.every_n_steps == 0:
            self.render(trainer, pl_module)

    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self.render(trainer, pl_module)

    @torch.no_grad()
    def render(self, trainer: Trainer, pl_module: LightningModule) -> None:
        step = trainer.global_step
        if trainer.fast_dev_run or not trainer.is_global_zero or step == self._last_step:
            return
        self._last_step = step
        self.dirpath.mkdir(parents=True, exist_ok=True)
        networks = {"": pl_module.generator, "_ema": getattr(pl_module, "generator_ema", None)}
        for suffix, generator in networks.items():
            if generator is None:
                continue
            images = generate(generator, pl_module.fixed_noise, getattr(pl_module, "fixed_labels", None))
            # A conditional run's grid has one row per class.
            nrow = len(images) // pl_module.num_classes if pl_module.num_classes else self.nrow
            grid = make_grid(images, nrow=nrow, normalize=True, value_range=(-1, 1))
            log_image(trainer.loggers, TAG + suffix, grid, step)
            save_image(grid, self.dirpath / f"step{step:07d}{suffix}.png")
