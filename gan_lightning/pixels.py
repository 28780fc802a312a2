"""Images as the networks see them (float, in [-1, 1], the generator's Tanh range) and as files
hold them (uint8, in [0, 255])."""

from __future__ import annotations

import torch


def to_unit_range(pixels: torch.Tensor) -> torch.Tensor:
    """uint8 images in [0, 255] -> float images in [-1, 1], the generator's Tanh range."""
    return pixels.float().div_(127.5).sub_(1.0)


def to_pixels(images: torch.Tensor) -> torch.Tensor:
    """Float images in [-1, 1] -> uint8 in [0, 255]: the inverse of ``to_unit_range``."""
    return ((images.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
