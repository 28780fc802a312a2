"""The keys that seed every random draw of a training step, and ``latent_noise``, the one
function that draws z: in training steps, fixed-noise grids, scores, ``gan-eval``,
``gan-sample`` and the benchmark.

A key is a function of the run alone: (seed, rank, step, update, draw), all integers. Python
salts ``hash()`` of strings (and of tuples holding them) per process, so a key built from a
name would change in every new process and a rerun or a resume would silently stop being
exact; each kind of draw therefore has a fixed integer tag, ``Draw``. CPython's hash of a tuple
of integers is unsalted, the same in every process. Nothing else in the package calls
``hash()`` to seed.
"""

from __future__ import annotations

from enum import IntEnum

import torch


class Draw(IntEnum):
    """One tag per kind of draw in a step. Never renumber one: every run's draws would change."""

    Z = 0  # z of a discriminator update (the last one's fakes also train G)
    AUGMENT = 1  # DiffAugment's per-image parameters (kornia draws from torch's global generator)
    GP_MIX = 2  # WGAN-GP's interpolation weight per sample


def step_key(seed: int, rank: int, step: int, update: int = 0, draw: Draw = Draw.Z) -> int:
    """The seed of ``draw`` at discriminator ``update`` of ``step`` on ``rank``: a non-negative
    63-bit integer. z's keys are those of earlier versions, so the seeds' recipes train to the
    same weights as before."""
    parts = (seed, rank, step, update, int(draw))
    if not all(isinstance(part, int) for part in parts):
        raise TypeError(f"step_key takes integers only, got {parts!r}")
    if draw == Draw.Z:
        parts = parts[:4] if update else parts[:3]
    return hash(parts) % 2**63


def seeded(seed: int, device: torch.device | str = "cpu") -> torch.Generator:
    """A generator of random numbers on ``device``, seeded with ``seed``."""
    return torch.Generator(device=device).manual_seed(seed)


def latent_noise(
    n: int, latent_dim: int, generator: torch.Generator | None, device: torch.device | str | None = None
) -> torch.Tensor:
    """``n`` z of ``latent_dim`` standard normal numbers, drawn from ``generator`` on its device
    (or on ``device``; None: torch's global generator, as the seed scripts draw)."""
    return torch.randn(n, latent_dim, generator=generator, device=device)
