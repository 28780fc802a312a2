"""Plain ``nn.Module`` networks; they know nothing of Lightning or of the losses."""

from gan_lightning.models.dcgan import DCGANDiscriminator, DCGANGenerator
from gan_lightning.models.mlp import MLPDiscriminator, MLPGenerator
from gan_lightning.models.resnet import ResNetDiscriminator, ResNetGenerator

__all__ = [
    "DCGANDiscriminator",
    "DCGANGenerator",
    "MLPDiscriminator",
    "MLPGenerator",
    "ResNetDiscriminator",
    "ResNetGenerator",
]
