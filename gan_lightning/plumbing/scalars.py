"""A run's logged scalars, read back from its TensorBoard events or its CSV log, and the
loss-curves figure ``gan-sample losses`` and the notebook draw from them."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from gan_lightning.plumbing.errors import UserError

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def read_scalars(run_dir: Path) -> dict[str, tuple[list[int], list[float]]]:
    """Every scalar of a run: from its TensorBoard events (all files: resumes append new ones),
    or, for a run logged with logger=csv, from ``csv/metrics.csv``."""
    log_dir, table = run_dir / "tensorboard", run_dir / "csv" / "metrics.csv"
    if not any(log_dir.glob("events.out.tfevents.*")):
        if table.is_file():
            return read_csv_scalars(table)
        raise UserError(f"{run_dir}: no TensorBoard events and no csv/metrics.csv (was it logged with logger=none?)")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(log_dir), size_guidance={"scalars": 0}).Reload()
    scalars = {}
    for tag in events.Tags()["scalars"]:
        points = sorted({event.step: event.value for event in events.Scalars(tag)}.items())
        scalars[tag] = ([step for step, _ in points], [value for _, value in points])
    return scalars


def read_csv_scalars(path: Path) -> dict[str, tuple[list[int], list[float]]]:
    """The CSV logger's table (one row per logged step, a column per scalar) as scalar series."""
    import csv

    series: dict[str, dict[int, float]] = {}
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            for tag, value in row.items():
                if tag not in ("step", "epoch") and value not in ("", None):
                    series.setdefault(tag, {})[int(row["step"])] = float(value)
    return {tag: (sorted(points), [points[s] for s in sorted(points)]) for tag, points in series.items()}


def loss_figure(scalars: dict[str, tuple[list[int], list[float]]]) -> Figure:
    """The losses on one panel, D's outputs on a second, sample quality (val/fid...) on a third."""
    import matplotlib.pyplot as plt

    panels = {
        "losses": ["train/d_loss", "train/g_loss"],
        "D(x) and D(G(z))": ["train/d_real", "train/d_fake"],
        "sample quality (lower is better)": [t for t in ("val/fid", "val/fid_ema") if t in scalars],
    }
    panels = {title: [t for t in tags if t in scalars] for title, tags in panels.items()}
    panels = {title: tags for title, tags in panels.items() if tags}
    if not panels:
        raise UserError(f"no train/* or val/* scalars logged yet ({len(scalars)} other tags)")
    figure, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 3.6), squeeze=False)
    for ax, (title, tags) in zip(axes[0], panels.items(), strict=True):
        for tag in tags:
            ax.plot(*scalars[tag], label=tag, marker="o" if tag.startswith("val/") else None, markersize=3)
        ax.set(title=title, xlabel="iteration")
        ax.grid(alpha=0.3)
        ax.legend()
    figure.tight_layout()
    return figure
