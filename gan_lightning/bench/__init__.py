"""Training throughput of the template on this machine, against plain PyTorch loops and
against the CPU's own roof.

    python -m gan_lightning.bench data.root=/datasets                       # vanilla GAN, MNIST
    python -m gan_lightning.bench --steps 100 experiment=mnist_dcgan32 data.root=/datasets
    python -m gan_lightning.bench --roof experiment=mnist_dcgan32           # the roof alone

For one experiment (Hydra overrides as for gan-train) it measures images/s after a warm-up,
the time from a fresh process to its first iteration, and the peak resident memory, of:

  template      (a) gan-train's own path: Lightning, callbacks and logging as configured
  template_fp32 (a') the same with the previous version's defaults: fp32, contiguous tensors,
                    Adam's for-loop implementation (``modes.FP32_DEFAULTS``)
  plain         (b) a plain fp32 PyTorch loop, same networks, batch and losses, torch's default
                    Adam, fed by a torchvision DataLoader with ToTensor + Normalize, as the
                    original scripts were
  plain_memory  (c) the same plain loop fed by the template's in-memory batches
  plain_memory_frozen_d
                (c') (c) with D's weights frozen during G's step, as the template's
                    toggle_optimizer does

Each measurement runs in a fresh process; the paths alternate for --repeats rounds, and the
medians, the ratios and each path's share of the roof at its precision (``roof.py``) are
printed as Markdown tables, then the targets. (b) needs the data set's files in torchvision's
layout under data.root.
"""

from gan_lightning.bench.cli import main
from gan_lightning.bench.modes import MODES

__all__ = ["MODES", "main"]
