import pytest
import torch
from torch import nn

from gan_lightning.losses import get_loss
from gan_lightning.models import DCGANDiscriminator, DCGANGenerator, MLPDiscriminator, MLPGenerator
from gan_lightning.models.dcgan import SUPPORTED_SIZES


@pytest.mark.parametrize("channels,size", [(1, 28), (3, 32)])
def test_generator_makes_images_in_tanh_range(channels, size):
    g = MLPGenerator(latent_dim=16, channels=channels, image_size=size)
    images = g(torch.randn(5, 16))
    assert images.shape == (5, channels, size, size)
    assert images.min() >= -1 and images.max() <= 1


def test_generator_layout_and_bn_eps():
    g = MLPGenerator(bn_eps=0.8)
    linears = [m for m in g.modules() if isinstance(m, nn.Linear)]
    assert [m.out_features for m in linears] == [128, 256, 512, 1024, 784]
    norms = [m for m in g.modules() if isinstance(m, nn.BatchNorm1d)]
    assert [m.num_features for m in norms] == [256, 512, 1024]  # none after the first layer
    assert all(m.eps == 0.8 and m.momentum == 0.1 for m in norms)
    assert all(m.eps == 1e-5 for m in MLPGenerator().modules() if isinstance(m, nn.BatchNorm1d))


def test_discriminator_returns_unbounded_logits():
    d = MLPDiscriminator()
    linears = [m for m in d.modules() if isinstance(m, nn.Linear)]
    assert [m.out_features for m in linears] == [512, 256, 1]
    with torch.no_grad():
        d.net[-1].bias.fill_(10.0)  # a confident D: a logit, not a probability, comes out
    logits = d(torch.randn(4, 1, 28, 28))
    assert logits.shape == (4,) and (logits > 1).all()


def test_losses_match_sigmoid_bce():
    real, fake = torch.randn(8), torch.randn(8)
    bce, loss = nn.BCELoss(), get_loss("bce")
    discriminator_loss, generator_loss = loss.discriminator, loss.generator
    expected_d = 0.5 * (bce(real.sigmoid(), torch.ones(8)) + bce(fake.sigmoid(), torch.zeros(8)))
    torch.testing.assert_close(discriminator_loss(real, fake), expected_d)
    torch.testing.assert_close(generator_loss(fake), bce(fake.sigmoid(), torch.ones(8)))
    # Where Sigmoid + BCELoss saturates (p rounds to 0 in float32), the logits form stays exact.
    assert torch.isclose(generator_loss(torch.tensor([-200.0])), torch.tensor(200.0))


@pytest.mark.parametrize("size", SUPPORTED_SIZES)
@pytest.mark.parametrize("channels", [1, 3])
def test_dcgan_shapes_at_every_supported_size(size, channels):
    g = DCGANGenerator(latent_dim=8, channels=channels, image_size=size, base_width=4)
    d = DCGANDiscriminator(channels=channels, image_size=size, base_width=4)
    images = g(torch.randn(2, 8))
    assert images.shape == (2, channels, size, size)
    assert d(images).shape == (2,)


def test_dcgan_64_widths_follow_the_paper():
    g, d = DCGANGenerator(image_size=64), DCGANDiscriminator(image_size=64)
    g_widths = [m.out_channels for m in g.modules() if isinstance(m, nn.ConvTranspose2d)]
    d_widths = [m.out_channels for m in d.modules() if isinstance(m, nn.Conv2d)]
    assert g_widths == [512, 256, 128, 64, 3]
    assert d_widths == [64, 128, 256, 512, 1]
    assert not isinstance(d.net[1], nn.BatchNorm2d)  # no norm on the discriminator's input layer


def test_dcgan_init_statistics():
    torch.manual_seed(0)
    g = DCGANGenerator(image_size=64)
    convs = torch.cat([m.weight.flatten() for m in g.modules() if isinstance(m, nn.ConvTranspose2d)])
    norms = [m for m in g.modules() if isinstance(m, nn.BatchNorm2d)]
    scales = torch.cat([m.weight for m in norms])
    assert abs(convs.mean()) < 1e-3 and abs(convs.std() - 0.02) < 1e-3
    assert abs(scales.mean() - 1) < 5e-3 and abs(scales.std() - 0.02) < 5e-3
    assert all(torch.count_nonzero(m.bias) == 0 for m in norms)


@pytest.mark.parametrize("size", [28, 48, 512])
def test_dcgan_refuses_sizes_it_cannot_make(size):
    with pytest.raises(ValueError, match=f"image_size={size}"):
        DCGANGenerator(image_size=size)


def test_a_fresh_conditional_discriminator_starts_in_bces_working_range():
    """A projection term of std ~100 at the start (torch's N(0, 1) embedding) let D win at once:
    mnist_cdcgan32 drew no digits in 2 epochs. At the start the conditional logits must be as
    small as the unconditional ones."""
    torch.manual_seed(0)
    images, labels = torch.rand(256, 1, 32, 32) * 2 - 1, torch.arange(256) % 10
    plain = DCGANDiscriminator(channels=1, image_size=32).train()(images)
    conditional = DCGANDiscriminator(channels=1, image_size=32, num_classes=10).train()(images, labels)
    assert conditional.std() < 3 * plain.std() + 1


@pytest.mark.parametrize("experiment", ["mnist_gan", "mnist_cdcgan32"])
def test_spectral_norm_reaches_every_weight_layer_of_d_and_none_of_g(tmp_path, experiment):
    from hydra.utils import instantiate

    from tests.conftest import compose_train

    cfg = compose_train(tmp_path, f"experiment={experiment}", "model.spectral_norm=true")
    module = instantiate(cfg.model, _recursive_=False, num_classes=10 if "cdcgan" in experiment else 0)
    kinds = (torch.nn.Linear, torch.nn.Conv2d, torch.nn.ConvTranspose2d, torch.nn.Embedding)
    d_layers = [m for m in module.discriminator.modules() if isinstance(m, kinds)]
    g_layers = [m for m in module.generator.modules() if isinstance(m, kinds)]
    assert len(d_layers) >= 3 and all(torch.nn.utils.parametrize.is_parametrized(m, "weight") for m in d_layers)
    assert not any(torch.nn.utils.parametrize.is_parametrized(m) for m in g_layers)
