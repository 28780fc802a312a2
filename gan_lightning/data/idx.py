"""Reader for the IDX files MNIST and FashionMNIST ship in, plain or gzipped."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import torch

from gan_lightning.plumbing.errors import UserError

_UBYTE = 0x08


def _read(path: Path, dims: int, what: str) -> bytes:
    """The bytes of an IDX file of uint8 ``what`` with ``dims`` dimensions, header checked."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError) as err:  # unreadable, or a gzip stream cut short
        raise UserError(f"{path}: cannot be read ({type(err).__name__}: {err})") from err
    if len(data) < 4 + 4 * dims or data[:2] != b"\0\0" or data[2] != _UBYTE or data[3] != dims:
        raise UserError(f"{path}: not an IDX file of uint8 {what} (bad header)")
    return data


def read_idx_images(path: str | Path) -> torch.Tensor:
    """Return the uint8 images of an ``*-idx3-ubyte[.gz]`` file as an (N, H, W) tensor."""
    path = Path(path)
    data = _read(path, 3, "images")
    n, h, w = (int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(3))
    if len(data) != 16 + n * h * w:
        raise UserError(f"{path}: truncated, expected {n} images of {h}x{w}")
    return torch.from_numpy(np.frombuffer(data, dtype=np.uint8, offset=16).reshape(n, h, w).copy())


def read_idx_labels(path: str | Path) -> torch.Tensor:
    """Return the class labels of an ``*-idx1-ubyte[.gz]`` file as an (N,) int64 tensor."""
    path = Path(path)
    data = _read(path, 1, "labels")
    n = int.from_bytes(data[4:8], "big")
    if len(data) != 8 + n:
        raise UserError(f"{path}: truncated, expected {n} labels")
    return torch.from_numpy(np.frombuffer(data, dtype=np.uint8, offset=8).astype(np.int64))
