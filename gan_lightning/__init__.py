"""gan_lightning: the classic GANs as a PyTorch Lightning + Hydra research template."""

__version__ = "0.1.0"
