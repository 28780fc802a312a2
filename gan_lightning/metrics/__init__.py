"""Sample-quality metrics: FID, KID and IS through torchmetrics, on features of a small
classifier trained here (MNIST-like data) or of Inception-v3 (RGB data)."""
