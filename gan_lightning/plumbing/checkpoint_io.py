"""Checkpoint writes that never leave a half-written or NaN-filled file behind."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO

from gan_lightning.plumbing.errors import TrainingError


def first_non_finite(state_dict: dict[str, Any]) -> str | None:
    """Name of the first floating-point tensor holding NaN or Inf, if any."""
    for name, value in state_dict.items():
        if torch.is_tensor(value) and value.is_floating_point() and not torch.isfinite(value).all():
            return name
    return None


class AtomicCheckpointIO(TorchCheckpointIO):
    """Writes each checkpoint to a temporary file in the same folder, flushes it to disk and
    renames it over the target, so a kill at any moment leaves either the old file or the new
    one. Refuses to write weights holding NaN or Inf, so a diverged run cannot overwrite the
    last good checkpoint; a failed write (a full disk) leaves the previous file as it was.
    """

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any = None) -> None:
        path = Path(path)
        bad = first_non_finite(checkpoint.get("state_dict", {}))
        if bad is not None:
            raise TrainingError(f"step {checkpoint.get('global_step')}: {bad} holds NaN or Inf; not saved over {path}")
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")  # two writers never share one
        try:
            with open(tmp, "wb") as f:
                torch.save(checkpoint, f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except (OSError, RuntimeError) as err:
            # A full disk (or a file-size limit) surfaces as OSError from the file, or as a
            # RuntimeError from torch.save's zip writer when a write stops short.
            reason = err if isinstance(err, OSError) else "the write stopped short (is the disk full?)"
            message = f"could not write checkpoint {path}: {reason}; the previous one is kept"
            raise TrainingError(message) from err
        finally:  # a partial file left by any failure, a second Ctrl-C's abort included
            tmp.unlink(missing_ok=True)
