"""Callbacks: checkpoints that survive Ctrl-C, a divergence guard, fixed-noise sample grids,
run config logging."""

from gan_lightning.callbacks.checkpoint import LastCheckpoint
from gan_lightning.callbacks.divergence import DivergenceGuard
from gan_lightning.callbacks.image_grid import FixedNoiseGrid
from gan_lightning.callbacks.run_config import LogRunConfig

__all__ = ["DivergenceGuard", "FixedNoiseGrid", "LastCheckpoint", "LogRunConfig"]
