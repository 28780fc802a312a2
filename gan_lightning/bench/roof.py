"""This CPU's roof for one experiment: its matrix multiplies and convolutions, timed alone.

One training iteration of the template (D's updates and G's, penalties and augmentation
included, at the configured precision) is recorded op by op under a dispatch mode. Every
matrix multiply and convolution it ran, forward and backward, is then run again alone on
random tensors of the same shapes, strides and dtype, and timed. The roof is the iteration
with nothing but that arithmetic, each op at its standalone speed:
``roof images/s = batch / sum(time of each op alone)``. A path's share of the roof is its
images/s over that: what is left is per-op overhead, elementwise work, the optimizer, data,
and the loop. FLOPs are torch's own count (``torch.utils.flop_counter``) of the same ops.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

import torch
from lightning.pytorch import Callback
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import FlopCounterMode

aten = torch.ops.aten
KINDS = {
    aten.mm: "matmul",
    aten.addmm: "matmul",
    aten.bmm: "matmul",
    aten.convolution: "conv",
    aten.convolution_backward: "conv",
}


@dataclass(frozen=True)
class _TensorSpec:
    shape: tuple[int, ...]
    stride: tuple[int, ...]
    dtype: torch.dtype

    def make(self) -> torch.Tensor:
        # Expanded tensors (stride 0) share memory: fill the storage, then view it as recorded.
        size = (
            1 + sum((n - 1) * step for n, step in zip(self.shape, self.stride, strict=True)) if all(self.shape) else 0
        )
        return torch.randn(size).to(self.dtype).as_strided(self.shape, self.stride)


def _spec(value: Any) -> Any:
    """A hashable stand-in for an op's argument: tensors by their specs, lists as tuples."""
    if isinstance(value, torch.Tensor):
        return _TensorSpec(tuple(value.shape), tuple(value.stride()), value.dtype)
    if isinstance(value, list | tuple):
        return tuple(_spec(v) for v in value)
    return value


def _made(value: Any) -> Any:
    """The arguments again, each tensor spec made a random tensor."""
    if isinstance(value, _TensorSpec):
        return value.make()
    return tuple(_made(v) for v in value) if isinstance(value, tuple) else value


class _Recorder(TorchDispatchMode):
    """Counts each heavy op of the code it wraps by (op, argument shapes)."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: Counter = Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func.overloadpacket in KINDS:
            self.calls[(func, _spec(args), _spec(sorted((kwargs or {}).items())))] += 1
        return func(*args, **(kwargs or {}))


class RecordIteration(Callback):
    """Records the heavy ops of training iteration ``at`` (later ones are warm)."""

    def __init__(self, at: int = 2) -> None:
        self.at, self.recorder = at, _Recorder()

    def on_train_batch_start(self, trainer, *args: Any) -> None:
        if trainer.global_step == self.at:
            self.recorder.__enter__()

    def on_train_batch_end(self, trainer, *args: Any) -> None:
        if trainer.global_step == self.at + 1:  # the step counter has moved past it
            self.recorder.__exit__(None, None, None)


def _time_alone(func: Any, args: Any, kwargs: dict, min_seconds: float) -> float:
    """Seconds per call of ``func`` on fresh random tensors of the recorded specs: the best of
    three timings, each of as many calls as fill ``min_seconds``."""
    args = _made(args)
    with torch.no_grad():
        for _ in range(2):
            func(*args, **kwargs)
        calls, start = 0, time.perf_counter()
        while time.perf_counter() - start < min_seconds / 3 or calls < 3:
            func(*args, **kwargs)
            calls += 1
        best = float("inf")
        for _ in range(3):
            start = time.perf_counter()
            for _ in range(calls):
                func(*args, **kwargs)
            best = min(best, (time.perf_counter() - start) / calls)
    return best


def _flops(func: Any, args: Any, kwargs: dict) -> int:
    args = _made(args)
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        func(*args, **kwargs)
    return counter.get_total_flops()


def measure_roof(recorder: _Recorder, batch_size: int, min_seconds: float = 0.05) -> dict[str, dict[str, float]]:
    """Per op kind (``matmul``, ``conv``, ``all``): calls, FLOPs and seconds per iteration alone,
    GFLOP/s; ``all`` also the roof's images/s and GFLOP per image."""
    rows: dict[str, dict[str, float]] = {}
    for (func, args, kwargs), count in recorder.calls.items():
        kwargs = dict(kwargs)
        flops, seconds = _flops(func, args, kwargs), _time_alone(func, args, kwargs, min_seconds)
        for kind in (KINDS[func.overloadpacket], "all"):
            row = rows.setdefault(kind, {"calls": 0, "flops": 0.0, "seconds": 0.0})
            row["calls"] += count
            row["flops"] += count * flops
            row["seconds"] += count * seconds
    for row in rows.values():
        row["gflops_per_s"] = row["flops"] / row["seconds"] / 1e9
    if "all" in rows:
        rows["all"]["images_per_s"] = batch_size / rows["all"]["seconds"]
        rows["all"]["gflop_per_image"] = rows["all"]["flops"] / batch_size / 1e9
    return rows
