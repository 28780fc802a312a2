"""The one place that turns z (and class labels) into images: the fixed-noise grids, the
scores during training, ``gan-eval``, ``gan-sample`` and the notebook all draw through it.

Every generator here is called ``G(z, labels)``, ``labels`` None for an unconditional one, so
conditioning touches the networks and the data, not the callers.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import Tensor, nn

from gan_lightning.pixels import to_pixels
from gan_lightning.plumbing.errors import UserError
from gan_lightning.randomness import latent_noise, seeded


def latents(n: int, latent_dim: int, seed: int, device: torch.device | str = "cpu") -> Tensor:
    """``n`` seeded z: the same seed gives the same z on every device."""
    return latent_noise(n, latent_dim, seeded(seed)).to(device)


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
    noise = seeded(seed, device)
    labels = balanced_labels(num, num_classes, device) if num_classes else None
    for start in range(0, num, batch_size):
        z = latent_noise(min(batch_size, num - start), latent_dim, noise, device)
        chunk = labels[start : start + len(z)] if labels is not None else None
        yield generate(generator, z, chunk), chunk


def load_generator(ckpt: Path, ema: bool) -> tuple[torch.nn.Module, int, int]:
    """(generator in eval mode, latent size, number of classes: 0 if unconditional)."""
    from gan_lightning.gan_module import GANModule

    module = GANModule.load_from_checkpoint(ckpt, map_location="cpu", compile=False)
    generator = module.generator_ema if ema else module.generator
    if generator is None:
        raise UserError(f"{ckpt}: trained without model.ema_decay, so there is no EMA generator")
    return generator.eval(), module.latent_dim, module.num_classes


def class_labels(choice: str | None, n: int, num_classes: int, mode: str) -> torch.Tensor | None:
    """The classes to draw: None for an unconditional generator; ``--class k`` (all k), or
    ``all`` (an equal share of each; a grid then has one row per class, the default)."""
    if not num_classes:
        if choice is not None:
            raise UserError(f"--class {choice}: this generator was trained without classes (model.conditional=false)")
        return None
    if choice in (None, "all"):
        if mode == "grid":  # one row per class, as the training grid
            return torch.arange(num_classes).repeat_interleave(max(1, n // num_classes))
        return balanced_labels(n, num_classes)
    if not choice.isdigit() or int(choice) >= num_classes:
        raise UserError(f"--class {choice}: must be all or a class from 0 to {num_classes - 1}")
    return torch.full((n,), int(choice))


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """[-1, 1] (N, C, H, W) floats -> uint8 (N, H, W, C)."""
    return to_pixels(images).permute(0, 2, 3, 1).numpy()


def to_pil(pixels: np.ndarray) -> list[Image.Image]:
    return [Image.fromarray(image.squeeze(-1) if image.shape[-1] == 1 else image) for image in pixels]


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation: intermediate z keep the norm Gaussian samples have."""
    omega = torch.arccos((a / a.norm() * b / b.norm()).sum().clamp(-1, 1))
    if omega.abs() < 1e-6:
        return (1 - t)[:, None] * a + t[:, None] * b
    return (torch.sin((1 - t) * omega)[:, None] * a + torch.sin(t * omega)[:, None] * b) / torch.sin(omega)
