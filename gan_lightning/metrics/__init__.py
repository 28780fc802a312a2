"""Sample-quality metrics: FID, KID and IS through torchmetrics, precision, recall, density and
coverage, on features of a small classifier trained here (MNIST-like data) or of Inception-v3
(RGB data)."""

# Metrics written in modules of their own register themselves when imported.
from gan_lightning.metrics import confident, prdc  # noqa: F401
