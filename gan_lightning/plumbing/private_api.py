"""Every use of a private Lightning API, in one place: why each is needed and what breaks when
Lightning changes it. ``pyproject.toml`` bounds Lightning to the minor versions these were tested
with; a new one is allowed in after the suite passes on it. (Optuna is reached through its
public API only: ``sweep/storage.py``.)

Beside these, ``run/callbacks.py`` rewrites the fit loop's counters in a checkpoint
(``at_start_of_next_epoch``): Lightning's checkpoint format, not an attribute, and the resume
tests from epoch-end checkpoints fail if it changes.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


def cluster_environment(trainer: Any) -> Any:
    """The trainer's cluster environment (SLURM's carries the requeue signal and whether
    auto-requeue is on). Kept on the private ``_accelerator_connector``; if it moves this gives
    None, SLURM's requeue signal is no longer caught, and the requeue test fails."""
    return getattr(getattr(trainer, "_accelerator_connector", None), "cluster_environment", None)


def forget_sigterm(trainer: Any) -> None:
    """Clear a SIGTERM Lightning's own handler recorded while setting up (the run's handler saw
    it too and stops after the first iteration, saved). Without it Lightning ends that run
    unsaved with exit status 0; if the attribute goes, this raises and every run fails at once."""
    trainer._signal_connector.received_sigterm = False


@contextmanager
def step_not_counted(optimizer: Any) -> Iterator[None]:
    """``optimizer.step()`` of a ``LightningOptimizer`` without Lightning counting a global step:
    its private ``_on_before_step``/``_on_after_step`` hooks are what count. If they are renamed,
    D's updates count too, ``global_step`` doubles, and the step-count tests fail."""
    before, after = optimizer._on_before_step, optimizer._on_after_step
    optimizer._on_before_step = optimizer._on_after_step = lambda: None
    try:
        yield
    finally:
        optimizer._on_before_step, optimizer._on_after_step = before, after
