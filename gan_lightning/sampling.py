"""The one place that turns z (and class labels) into images: the fixed-noise grids, the
scores during training, ``gan-eval``, ``gan-sample`` and the notebook all draw through it.

Every generator here is called ``G(z, labels)``, ``labels`` None for an unconditional one, so
conditioning touches the networks and the data, not the callers.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import Tensor, nn


def latents(n: int, latent_dim: int, seed: int, device: torch.device | str = "cpu") -> Tensor:
    """``n`` seeded z: the same seed gives the same z on every device."""
    return torch.randn(n, latent_dim, generator=torch.Generator().manual_seed(seed)).to(device)


@torch.no_grad()
def generate(generator: nn.Module, z: Tensor, labels: Tensor | None = None) -> Tensor:
    """G(z, labels) in eval mode (BatchNorm uses its running statistics, so a sample does not
    depend on what else is in the batch); the generator's training mode comes back after."""
    was_training = generator.training
    generator.eval()
    try:
        return generator(z, labels).float()
    finally:
        generator.train(was_training)


def balanced_labels(n: int, num_classes: int, device: torch.device | str = "cpu") -> Tensor:
    """0, 1, ..., K-1, 0, 1, ...: an equal share of each class (to within one)."""
    return torch.arange(n, device=device) % num_classes


def sample_batches(
    generator: nn.Module,
    num: int,
    latent_dim: int,
    batch_size: int,
    seed: int,
    device: torch.device,
    num_classes: int = 0,
) -> Iterator[tuple[Tensor, Tensor | None]]:
    """``num`` samples from seeded z, a batch at a time, as (images, labels asked for): for a
    conditional generator (``num_classes`` > 0) an equal share of each class, else labels None."""
    noise = torch.Generator(device=device).manual_seed(seed)
    labels = balanced_labels(num, num_classes, device) if num_classes else None
    for start in range(0, num, batch_size):
        z = torch.randn(min(batch_size, num - start), latent_dim, generator=noise, device=device)
        chunk = labels[start : start + len(z)] if labels is not None else None
        yield generate(generator, z, chunk), chunk
