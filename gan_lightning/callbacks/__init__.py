"""Callbacks: checkpoints, a divergence guard, fixed-noise sample grids, the hyperparameters
loggers show, sample-quality scores."""

from gan_lightning.callbacks.checkpoint import BestCheckpoint, LastCheckpoint
from gan_lightning.callbacks.divergence import DivergenceGuard
from gan_lightning.callbacks.hyperparameters import LogHyperparameters
from gan_lightning.callbacks.image_grid import FixedNoiseGrid
from gan_lightning.callbacks.sample_quality import SampleQuality

__all__ = [
    "BestCheckpoint",
    "DivergenceGuard",
    "FixedNoiseGrid",
    "LastCheckpoint",
    "LogHyperparameters",
    "SampleQuality",
]
