"""Sweep bookkeeping: each run's ``result.json``, and the tables of a whole sweep's summary
(``summary.py`` adds its picture and the ``gan-sweep-summary`` command).

The sweeper writes ``summary.csv`` and ``summary.md`` (and ``summary.png``) in the sweep
directory when the sweep ends, and prints the Markdown: every run, best first (pruned runs with
the epoch they reached, failed ones last), then every setting with the mean ± std of the
objective over its seeds, ranked by the mean (in ``summary_by_setting.csv``, of every metric).
"""

from __future__ import annotations

import csv
import json
import math
import statistics
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gan_lightning.plumbing.errors import UserError

RESULT = "result.json"
STUDY_FILE = "study.json"  # written by the sweeper: how a run reaches the study, and its direction


def objective(metrics: dict[str, float], name: str) -> float:
    """The number a sweep minimizes: a logged metric, ``val/fid`` by default. The loss-based
    ``train/equilibrium_gap`` needs no scoring: the module logs how far the final losses are
    from where D cannot tell fakes from reals (ln 2 each for BCE), for losses that define it."""
    return metrics.get(name, math.nan)


def write_result(
    run_dir: Path,
    overrides: list[str],
    metrics: dict[str, float],
    value: float,
    error: str,
    objective_name: str,
    pruned_epoch: int | None = None,
    ranked: bool = True,
) -> None:
    """``ranked``: a sweep's run, whose objective must be a number; a lone run is ``ok`` without one."""
    unranked = ranked and not math.isfinite(value)
    status = "pruned" if pruned_epoch else "failed" if error or unranked else "ok"
    result = {
        "status": status,
        "error": error,
        # The epochs trained (a fraction for a run stopped mid-epoch); a pruned run's count.
        "epochs": pruned_epoch or metrics.get("epochs"),
        "overrides": overrides,
        "objective_name": objective_name,
        "objective": value,
        "metrics": metrics,
    }
    (run_dir / RESULT).write_text(json.dumps(result, indent=1))


def direction(sweep_dir: Path) -> int:
    """1 where the sweep minimizes its objective, -1 where it maximizes it."""
    study = sweep_dir / STUDY_FILE
    maximize = study.is_file() and json.loads(study.read_text()).get("direction") == "maximize"
    return -1 if maximize else 1


def collect(sweep_dir: Path) -> list[dict[str, Any]]:
    """Every run under ``sweep_dir`` with a result: ok ones best first, then pruned, then failed."""
    sign, runs = direction(sweep_dir), []
    for path in sorted(sweep_dir.glob(f"*/{RESULT}")):
        runs.append({"run": path.parent.name, **json.loads(path.read_text())})
    order = {"ok": 0, "pruned": 1, "failed": 2}
    runs.sort(key=lambda r: (order[r["status"]], sign * r["objective"] if r["status"] != "failed" else 0.0))
    return runs


def _is_setting(override: str) -> bool:
    """Overrides that say what a run tried, not how or where it ran."""
    return not override.lstrip("+").startswith(("seed=", "ckpt_path=", "hydra"))


def settings(runs: list[dict[str, Any]]) -> dict[str, str]:
    """Each run's setting: the overrides whose values differ across the sweep, seed left out."""
    effective = {r["run"]: dict(o.partition("=")[::2] for o in r["overrides"] if _is_setting(o)) for r in runs}
    keys = list(dict.fromkeys(key for values in effective.values() for key in values))
    varying = [key for key in keys if len({values.get(key) for values in effective.values()}) > 1]
    return {
        run: " ".join(f"{key}={values[key]}" for key in varying if key in values) for run, values in effective.items()
    }


def _mean(values: list[float]) -> float:
    return statistics.fmean(values) if values else math.nan


def _std(values: list[float]) -> float:
    return statistics.stdev(values) if len(values) > 1 else 0.0 if values else math.nan


def _spread(values: list[float]) -> tuple[float, float]:
    return _mean(values), _std(values)


def by_setting(runs: list[dict[str, Any]], sign: int = 1) -> list[dict[str, Any]]:
    """One row per setting: mean ± std of the objective over its finished seeds, best mean first."""
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    labels = settings(runs)
    for run in runs:
        groups[labels[run["run"]]].append(run)
    rows = []
    for setting, members in groups.items():
        finished = [r for r in members if r["status"] == "ok"]
        values = [r["objective"] for r in finished]
        names = dict.fromkeys(name for r in finished for name in r["metrics"])
        rows.append(
            {
                "setting": setting or "(all runs alike)",
                "mean": _mean(values),
                "std": _std(values),
                "metrics": {
                    name: _spread([r["metrics"][name] for r in finished if name in r["metrics"]]) for name in names
                },
                "n": len(values),
                "pruned": sum(r["status"] == "pruned" for r in members),
                "failed": sum(r["status"] == "failed" for r in members),
                "runs": [r["run"] for r in members],
            }
        )
    rows.sort(key=lambda row: (math.isnan(row["mean"]), sign * row["mean"] if row["n"] else 0.0))
    return rows


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    return lines + ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]


def summarize(sweep_dir: str | Path, draw: Callable[[Path, list, list], Path | None] | None = None) -> str:
    """Write ``summary.csv``, ``summary_by_setting.csv`` and ``summary.md`` in ``sweep_dir``,
    with the picture ``draw`` makes of its runs and settings, if any; return the Markdown."""
    sweep_dir = Path(sweep_dir)
    if not sweep_dir.is_dir():
        raise UserError(f"{sweep_dir}: no such folder")
    runs = collect(sweep_dir)
    if not runs:
        raise UserError(f"{sweep_dir}: no run of a sweep in it (no */{RESULT})")
    name, sign = runs[0]["objective_name"], direction(sweep_dir)
    metric_names = sorted({metric for run in runs for metric in run["metrics"]} - {"iterations", "epochs"})
    header = ["run", "status", name, "iterations", "epochs", "overrides", *metric_names, "error"]
    rows = [
        [
            run["run"],
            run["status"],
            f"{run['objective']:.4g}",
            str(int(run["metrics"].get("iterations", 0)) or ""),
            str(run.get("epochs") or ""),
            " ".join(run["overrides"]),
            *(f"{run['metrics'][m]:.4g}" if m in run["metrics"] else "" for m in metric_names),
            run["error"],
        ]
        for run in runs
    ]
    with open(sweep_dir / "summary.csv", "w", newline="") as f:
        csv.writer(f).writerows([header, *rows])
    groups = by_setting(runs, sign)
    group_header = ["rank", "setting", f"{name} mean", "std", "n", "pruned", "failed", "runs"]
    group_rows = [
        [str(i + 1), g["setting"], f"{g['mean']:.4g}", f"{g['std']:.2g}", str(g["n"])]
        + [str(g["pruned"]), str(g["failed"]), " ".join(g["runs"])]
        for i, g in enumerate(groups)
    ]
    # The CSV also holds every other metric's mean and std over each setting's finished seeds.
    others = [m for m in metric_names if m != name]
    spreads = [
        [cell for m in others for cell in (f"{v:.4g}" for v in g["metrics"].get(m, (math.nan, math.nan)))]
        for g in groups
    ]
    with open(sweep_dir / "summary_by_setting.csv", "w", newline="") as f:
        setting_header = [*group_header, *(f"{m} {stat}" for m in others for stat in ("mean", "std"))]
        csv.writer(f).writerows(
            [setting_header, *(row + spread for row, spread in zip(group_rows, spreads, strict=True))]
        )

    lines = ["## Runs", "", *_table(header, rows), "", "## By setting (mean ± std over seeds)", ""]
    lines += _table(group_header, group_rows)
    iterations = sum(int(run["metrics"].get("iterations", 0)) for run in runs)
    pruned = sum(run["status"] == "pruned" for run in runs)
    lines += ["", f"Iterations trained: {iterations} in {len(runs)} runs ({pruned} pruned)"]
    best_group, best = groups[0], runs[0]
    if best["status"] == "ok":
        spread = f" ± {best_group['std']:.2g} over {best_group['n']} runs" if best_group["n"] > 1 else ""
        lines += [
            "",
            f"Best setting: {best_group['setting']} ({name} {best_group['mean']:.4g}{spread})",
            f"Best run: {best['run']} ({name} {best['objective']:.4g})",
            f"Resume it: gan-train ckpt_path={sweep_dir / best['run']}",  # its own overrides come back
        ]
    picture = draw(sweep_dir, runs, groups) if draw else None
    if picture:
        lines += ["", f"Picture: {picture}"]
    markdown = "\n".join(lines) + "\n"
    (sweep_dir / "summary.md").write_text(markdown)
    return markdown
