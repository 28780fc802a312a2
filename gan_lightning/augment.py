"""Differentiable augmentation of every image the discriminator sees, real and fake (DiffAugment,
Zhao et al., 2020), from kornia's batch augmentations: each sample drawn its own way, on the
device, and gradients flow through them to the generator.

``model.augment=[translation,cutout,color]`` picks ops from ``AUGMENTATIONS``; a new op is one
entry. With ``model.augment_p`` (a number, or ``ada``: see ``gan_lightning/ada.py``) each op is
applied to each image with that probability instead of always. Images are in [-1, 1]:

- ``translation``: shift by up to 1/8 of the image size, zeros (mid-gray) coming in;
- ``cutout``: a square of half the image size set to zero;
- ``color``: brightness (+-0.5 on [-1, 1], added), contrast (x0.5 to x1.5 about the mean) and,
  for RGB, saturation (x0 to x2).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from torch import Tensor, nn

from gan_lightning.ada import with_probability
from gan_lightning.plumbing.errors import UserError


def _translation() -> nn.Module:
    import kornia.augmentation as K

    return K.RandomTranslate(translate_x=(-0.125, 0.125), translate_y=(-0.125, 0.125), p=1.0)


def _cutout() -> nn.Module:
    import kornia.augmentation as K

    return K.RandomErasing(scale=(0.25, 0.25), ratio=(1.0, 1.0), value=0.0, p=1.0)


class _Color(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        import kornia.augmentation as K

        self.brightness = K.RandomBrightness((0.75, 1.25), clip_output=False)  # +-0.25 on [0, 1]
        self.gray = K.ColorJitter(contrast=(0.5, 1.5))
        self.rgb = K.ColorJitter(contrast=(0.5, 1.5), saturation=(0.0, 2.0))

    def forward(self, images: Tensor) -> Tensor:
        unit = self.brightness((images + 1) / 2)  # kornia's colour ops work on [0, 1]
        unit = (self.rgb if unit.size(1) == 3 else self.gray)(unit)
        return unit * 2 - 1


AUGMENTATIONS: dict[str, Callable[[], nn.Module]] = {
    "translation": _translation,
    "cutout": _cutout,
    "color": _Color,
}


def build_augment(ops: Sequence[str]) -> Callable[[Tensor, float | None], Tensor] | None:
    """The composed augmentation (a function, so that it is no submodule and checkpoints do not
    change with it), or None for none: ``augment(images)`` applies every op to every image
    (DiffAugment); ``augment(images, p)`` each op to each image with probability p (ADA). Its
    randomness is torch's global generator, which the training step seeds from (seed, rank,
    step): a resumed run augments as an unbroken one."""
    if not ops:
        return None
    unknown = [op for op in ops if op not in AUGMENTATIONS]
    if unknown:
        raise UserError(f"model.augment: {', '.join(unknown)} unknown; the ops are {', '.join(AUGMENTATIONS)}")
    steps = [AUGMENTATIONS[op]() for op in dict.fromkeys(ops)]
    pipeline = nn.Sequential(*steps)

    def augment(images: Tensor, p: float | None = None) -> Tensor:
        if p is None:
            return pipeline(images)
        for op in steps:
            images = with_probability(op, p)(images)
        return images

    return augment
