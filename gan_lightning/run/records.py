"""What a run records beside its weights and reads back: its config and overrides (the
``RunRecord`` callback's state in each checkpoint) and its metrics."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lightning.pytorch import Trainer


def stored_config(checkpoint: dict[str, Any]) -> dict[str, Any] | None:
    """The run config a checkpoint holds (``LogRunConfig`` in checkpoints of earlier versions)."""
    states = checkpoint.get("callbacks", {})
    return (states.get("RunRecord") or states.get("LogRunConfig") or {}).get("config")


def recorded_metrics(checkpoint: dict[str, Any]) -> dict[str, float]:
    """The metrics a checkpoint's run had logged when it was saved, with its step and epochs."""
    metrics = (checkpoint.get("callbacks", {}).get("RunRecord") or {}).get("metrics") or {}
    return {
        **metrics,
        "iterations": float(checkpoint.get("global_step", 0)),
        "epochs": float(checkpoint.get("epoch", 0)),
    }


def logged_metrics(trainer: Trainer) -> dict[str, float]:
    """The metrics logged last, as floats; ``step`` (the x the scalars are logged at) is none."""
    return {name: float(value) for name, value in trainer.callback_metrics.items() if name != "step"}


def final_metrics(trainer: Trainer) -> dict[str, float]:
    """The metrics logged last, the step count (``iterations``) and the epochs trained, in
    whole and partial epochs."""
    metrics = logged_metrics(trainer)
    batches = trainer.num_training_batches
    epochs = trainer.global_step / batches if batches and batches != float("inf") else trainer.current_epoch
    return {**metrics, "iterations": float(trainer.global_step), "epochs": round(float(epochs), 3)}
