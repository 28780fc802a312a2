"""The generator's exponential moving average (``model.ema_decay``): a copy of G whose weights
follow the live ones, updated after every generator step, never trained. It is the module's
``generator_ema`` submodule, so it is checkpointed and resumed with the rest.
"""

from __future__ import annotations

import math

import torch
from torch import nn


def ema_decay_at(decay: float, rampup: float | None, step: int, images_per_step: int) -> float:
    """The EMA's decay after ``step`` generator updates. Without ``rampup``, ``decay``. With it
    (StyleGAN2-ADA's ramp-up), the average's half-life, in images, is ``rampup`` x the images
    seen so far, and never longer than ``decay``'s: early weights, random ones included, leave
    the average as fast as training moves on."""
    if not rampup:
        return decay
    half_life = images_per_step * math.log(0.5) / math.log(decay)
    ramped = min(half_life, rampup * step * images_per_step)
    return 0.5 ** (images_per_step / max(ramped, 1e-8))


@torch.no_grad()
def update_ema(ema: nn.Module, live: nn.Module, decay: float) -> None:
    """ema <- decay * ema + (1 - decay) * live, for the floating-point weights; BatchNorm's
    running statistics (and any integer buffer) are copied."""
    averaged, current = ema.state_dict(), live.state_dict()
    floats = [name for name, value in averaged.items() if value.is_floating_point() and "running_" not in name]
    torch._foreach_lerp_([averaged[n] for n in floats], [current[n] for n in floats], 1.0 - decay)
    for name, value in averaged.items():
        if name not in floats:
            value.copy_(current[name])
