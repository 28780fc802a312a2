"""Callbacks: checkpoints that survive Ctrl-C, a divergence guard, fixed-noise sample grids,
run config logging, sample-quality scores."""

from gan_lightning.callbacks.checkpoint import LastCheckpoint
from gan_lightning.callbacks.divergence import DivergenceGuard
from gan_lightning.callbacks.image_grid import FixedNoiseGrid
from gan_lightning.callbacks.run_config import LogRunConfig
from gan_lightning.callbacks.sample_quality import SampleQuality

__all__ = ["DivergenceGuard", "FixedNoiseGrid", "LastCheckpoint", "LogRunConfig", "SampleQuality"]
