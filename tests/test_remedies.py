"""The remedies for mode collapse against their formulas, and the ResNet networks' shapes."""

from __future__ import annotations

import pytest
import torch

from gan_lightning.gan_module import GANModule
from gan_lightning.models import DCGANDiscriminator, ResNetDiscriminator, ResNetGenerator
from gan_lightning.models.layers import ClassBatchNorm, MinibatchStd

ADAM = {"_target_": "torch.optim.Adam", "_partial_": True}


def test_minibatch_std_is_the_formula():
    """ProGAN's feature: group g of M = N / G holds samples g, g + M, g + 2M, ...; its number is
    the mean over (c, h, w) of sqrt(population variance over the group + 1e-8)."""
    torch.manual_seed(0)
    x = torch.randn(8, 3, 2, 2)
    out = MinibatchStd(group_size=4)(x)
    assert out.shape == (8, 4, 2, 2) and torch.equal(out[:, :3], x)
    groups = 8 // 4
    for m in range(groups):
        members = x[m::groups]  # 4 images
        mean = members.mean(dim=0)
        expected = (((members - mean) ** 2).mean(dim=0) + 1e-8).sqrt().mean()
        for j in range(m, 8, groups):
            assert torch.allclose(out[j, 3], expected.expand(2, 2), atol=1e-6)


def test_minibatch_std_sees_collapse():
    """A group of identical images gives sqrt(1e-8); distinct ones give more. A batch smaller
    than the group is one group; one that does not split is refused."""
    same = torch.randn(1, 2, 4, 4).repeat(4, 1, 1, 1)
    assert torch.allclose(MinibatchStd(4)(same)[:, 2], torch.full((4, 4, 4), 1e-4))
    assert MinibatchStd(4)(torch.randn(4, 2, 4, 4))[:, 2].min() > 0.1
    assert MinibatchStd(8)(torch.randn(2, 2, 4, 4)).shape == (2, 3, 4, 4)
    with pytest.raises(ValueError, match="a batch of 6 does not split into groups of 4"):
        MinibatchStd(4)(torch.randn(6, 2, 4, 4))


class _Recorder(torch.nn.Module):
    """A D that returns a per-input sum of what it was given, and keeps it."""

    def __init__(self, channels: int = 1, image_size: int = 8) -> None:
        super().__init__()
        self.channels, self.seen = channels, None
        self.weight = torch.nn.Parameter(torch.ones(1))

    def forward(self, images: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        self.seen = images
        return images.flatten(1).sum(dim=1) * self.weight


def _module(pack: int) -> GANModule:
    d = {"_target_": "tests.test_remedies._Recorder", "channels": 1}
    return GANModule({"_target_": "gan_lightning.models.MLPGenerator", "image_size": 8}, d, ADAM, ADAM, pack=pack)


def test_pack_stacks_consecutive_images_on_the_channels():
    """PacGAN with pack k: D is built for k times the channels and judges images k*i .. k*i+k-1
    as one input, their channels concatenated: N / k outputs."""
    model = _module(pack=2)
    assert model.discriminator.channels == 2
    images = torch.randn(6, 1, 8, 8)
    out = model.d(images)
    assert out.shape == (3,)
    expected = torch.stack([torch.cat([images[2 * i], images[2 * i + 1]], dim=0) for i in range(3)])
    assert torch.equal(model.discriminator.seen, expected)
    assert _module(pack=1).discriminator.channels == 1


def test_pack_refuses_a_conditional_gan():
    from gan_lightning.plumbing.errors import UserError

    with pytest.raises(UserError, match="unconditional"):
        GANModule(
            {"_target_": "gan_lightning.models.MLPGenerator"},
            {"_target_": "gan_lightning.models.MLPDiscriminator"},
            ADAM,
            ADAM,
            pack=2,
            conditional=True,
            num_classes=10,
        )


@pytest.mark.parametrize("size", [32, 64])
@pytest.mark.parametrize("classes", [0, 10])
def test_resnet_shapes(size, classes):
    generator = ResNetGenerator(latent_dim=16, channels=3, image_size=size, base_width=8, num_classes=classes)
    discriminator = ResNetDiscriminator(channels=3, image_size=size, base_width=8, num_classes=classes, minibatch_std=2)
    labels = torch.arange(4) % 10 if classes else None
    images = generator(torch.randn(4, 16), labels)
    assert images.shape == (4, 3, size, size) and images.abs().max() <= 1
    logits = discriminator(images, labels)
    assert logits.shape == (4,) and torch.isfinite(logits).all()
    # no BatchNorm in D; G's batch norms take per-class scale and shift when there are classes
    assert not any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in discriminator.modules())
    class_norms = [m for m in generator.modules() if isinstance(m, ClassBatchNorm)]
    assert class_norms and all(bool(m.num_classes) == bool(classes) for m in class_norms)
    # D's 4x4 features: w, 2w, 4w (8w at 64) down to 4x4
    assert discriminator.linear.in_features == 8 * (4 if size == 32 else 8)


def test_projection_and_class_batchnorm_use_the_class():
    torch.manual_seed(0)
    generator = ResNetGenerator(latent_dim=8, channels=1, image_size=32, base_width=4, num_classes=3)
    discriminator = ResNetDiscriminator(channels=1, image_size=32, base_width=4, num_classes=3)
    for m in generator.modules():  # away from the identity start, so classes differ
        if isinstance(m, ClassBatchNorm):
            torch.nn.init.normal_(m.scale.weight)
    z = torch.randn(2, 8)
    zeros, twos = torch.zeros(2, dtype=torch.long), torch.full((2,), 2)
    assert not torch.allclose(generator(z, zeros), generator(z, twos))
    images = torch.randn(2, 1, 32, 32)
    assert not torch.allclose(discriminator(images, zeros), discriminator(images, twos))


def test_dcgan_discriminator_takes_minibatch_std():
    discriminator = DCGANDiscriminator(channels=1, image_size=32, base_width=8, minibatch_std=4)
    assert discriminator.net[-1].in_channels == 8 * 4 + 1
    assert discriminator(torch.randn(8, 1, 32, 32)).shape == (8,)
