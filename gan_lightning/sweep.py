"""Sweep bookkeeping: each run's ``result.json``, and the summary table of a whole sweep.

    gan-sweep-summary logs/train/multiruns/<date>_<time>     # rebuild the table afterwards

After ``gan-train -m ...`` the summary is written by a Hydra callback (conf/hydra/default.yaml)
as ``summary.csv`` and ``summary.md`` in the sweep directory, sorted by the objective, and
printed. Failed runs are listed as failed, last.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback as HydraCallback
from omegaconf import DictConfig

from gan_lightning.errors import ArgumentParser, UserError, command

RESULT = "result.json"


def objective(metrics: dict[str, float], name: str) -> float:
    """The number a sweep minimizes: a logged metric (``val/fid`` by default), or
    ``train/equilibrium_gap``, a loss-based one that needs no scoring: how far the final losses
    are from the minimax equilibrium, where D outputs 1/2 everywhere and both losses equal ln 2."""
    if name == "train/equilibrium_gap":
        if "train/d_loss" not in metrics:
            return math.nan
        return abs(metrics["train/d_loss"] - math.log(2)) + abs(metrics["train/g_loss"] - math.log(2))
    return metrics.get(name, math.nan)


def write_result(
    run_dir: Path, overrides: list[str], metrics: dict[str, float], value: float, error: str, objective_name: str
) -> None:
    result = {
        "status": "failed" if error or not math.isfinite(value) else "ok",
        "error": error,
        "overrides": overrides,
        "objective_name": objective_name,
        "objective": value,
        "metrics": metrics,
    }
    (run_dir / RESULT).write_text(json.dumps(result, indent=1))


def collect(sweep_dir: Path) -> list[dict[str, Any]]:
    """Every run under ``sweep_dir`` with a result, best objective first, failures last."""
    runs = []
    for path in sorted(sweep_dir.glob(f"*/{RESULT}")):
        result = json.loads(path.read_text())
        runs.append({"run": path.parent.name, **result})
    runs.sort(key=lambda r: (r["status"] != "ok", r["objective"] if r["status"] == "ok" else 0.0))
    return runs


def summarize(sweep_dir: str | Path) -> str:
    """Write ``summary.csv`` and ``summary.md`` in ``sweep_dir``; return the Markdown."""
    sweep_dir = Path(sweep_dir)
    runs = collect(sweep_dir)
    if not runs:
        raise UserError(f"{sweep_dir}: no run of a sweep in it (no */{RESULT})")
    objective_name = runs[0]["objective_name"]
    metric_names = sorted({name for run in runs for name in run["metrics"]})
    header = ["run", "status", objective_name, "overrides", *metric_names, "error"]
    rows = [
        [
            run["run"],
            run["status"],
            f"{run['objective']:.4g}",
            " ".join(run["overrides"]),
            *(f"{run['metrics'][m]:.4g}" if m in run["metrics"] else "" for m in metric_names),
            run["error"],
        ]
        for run in runs
    ]
    with open(sweep_dir / "summary.csv", "w", newline="") as f:
        csv.writer(f).writerows([header, *rows])
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    best = runs[0]
    if best["status"] == "ok":
        lines += [
            "",
            f"Best: run {best['run']} ({objective_name} {best['objective']:.4g}): {' '.join(best['overrides'])}",
            f"Resume it: gan-train ckpt_path={sweep_dir / best['run']}",  # its own overrides come back
        ]
    markdown = "\n".join(lines) + "\n"
    (sweep_dir / "summary.md").write_text(markdown)
    return markdown


class SweepSummary(HydraCallback):
    """Hydra callback: summarizes the sweep once every run of it has ended."""

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        if any(sweep_dir.glob(f"*/{RESULT}")):
            print(summarize(sweep_dir))


@command
def main(argv: list[str] | None = None) -> None:
    parser = ArgumentParser(__doc__)
    parser.add_argument("sweep_dir", help="the sweep directory (logs/train/multiruns/<date>_<time>)")
    print(summarize(parser.parse_args(argv).sweep_dir))


if __name__ == "__main__":
    main()
