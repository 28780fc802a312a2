"""A quiet console: what Lightning prints that a user cannot act on, left out."""

from __future__ import annotations

import logging
import warnings


class _NoAdvertisements(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "Tip:" not in record.getMessage()  # Lightning's suggestions of its cloud products


def quiet() -> None:
    """Call once Lightning is imported. Drops Lightning's advertisements, and its own console
    handler when the root logger already prints (Hydra's, or pytest's), which would otherwise
    print every Lightning line twice."""
    for name in ("lightning.pytorch.utilities.rank_zero", "lightning.fabric.utilities.rank_zero"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, _NoAdvertisements) for f in logger.filters):
            logger.addFilter(_NoAdvertisements())
    if logging.getLogger().handlers:
        package = logging.getLogger("lightning")
        for handler in list(package.handlers):
            package.removeHandler(handler)
    # Lightning's own use of a torch API deprecated in torch 2.14.
    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)")
    # The model summary's size estimate under bf16 autocast (the CPU default): the weights are
    # fp32 all the same, so the estimate it falls back to is right.
    warnings.filterwarnings("ignore", message=r"Precision bf16-mixed is not supported by the model summary")
