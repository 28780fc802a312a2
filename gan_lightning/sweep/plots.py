"""``summary.png``: where in the swept parameters the good region is.

One varying parameter: the objective's mean over seeds against it, with ± std error bars and
each run as a dot. Two, each of a dozen values or fewer: a heatmap of the mean. Else, for a
grid (up to 30 settings): a bar of each setting's mean, best on top, its runs as dots; for many
continuous settings (a TPE study's): a scatter of the first two, coloured by the objective.
Parameters that split the runs alike (``model.d_optimizer.lr=${model.g_optimizer.lr}``) count
as one. "Best" follows the study's direction. A TPE study also gets Optuna's history,
parameter-importance and slice plots beside it.
"""

from __future__ import annotations

import math
import warnings
from collections import defaultdict
from pathlib import Path
from typing import Any

PICTURE = "summary.png"
MAX_BARS = 30  # settings drawn one bar each; more (a TPE study): a scatter


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _values(runs: list[dict[str, Any]], key: str) -> list[str]:
    seen = {o.partition("=")[2] for r in runs for o in r["overrides"] if o.partition("=")[0] == key}
    numbers = {v: _number(v) for v in seen}
    if all(n is not None for n in numbers.values()):
        return sorted(seen, key=lambda v: numbers[v])
    return sorted(seen)


def _param(run: dict[str, Any], key: str) -> str | None:
    return next((o.partition("=")[2] for o in run["overrides"] if o.partition("=")[0] == key), None)


def _distinct(runs: list[dict[str, Any]], keys: list[str]) -> list[str]:
    """``keys`` less those that split ``runs`` as a later key does (one value set from another):
    the later one stays, as a sweep's own parameters follow the fixed overrides."""
    kept, seen = set(), set()
    for key in reversed(keys):
        split = frozenset(frozenset(r["run"] for r in runs if _param(r, key) == v) for v in _values(runs, key))
        if split not in seen:
            kept.add(key)
            seen.add(split)
    return [key for key in keys if key in kept]


def _better(sign: int) -> str:
    return "lower" if sign > 0 else "higher"


def _log_scale(values: list[str]) -> bool:
    numbers = [_number(v) for v in values]
    positive = [n for n in numbers if n is not None and n > 0]
    return len(positive) == len(numbers) > 1 and max(positive) / min(positive) >= 100


def plot_summary(sweep_dir: Path, runs: list[dict[str, Any]], groups: list[dict[str, Any]]) -> Path | None:
    """Draw ``summary.png`` (and Optuna's plots of a TPE study); None when no parameter varies."""
    import matplotlib

    matplotlib.use("Agg")  # files only, no display needed
    import matplotlib.pyplot as plt

    from gan_lightning.sweep.results import direction

    ok = [r for r in runs if r["status"] == "ok" and math.isfinite(r["objective"])]
    keys = list(dict.fromkeys(o.partition("=")[0] for g in groups for o in g["setting"].split() if "=" in o))
    keys = _distinct(ok, keys)
    if not ok or not keys:
        return None
    name, sign = runs[0]["objective_name"], direction(sweep_dir)
    numeric = all(_number(v) is not None for k in keys[:2] for v in _values(ok, k))
    bars = not (len(keys) == 1 or (len(keys) == 2 and all(len(_values(ok, k)) <= 12 for k in keys)))
    bars = bars and (len(groups) <= MAX_BARS or not numeric)
    height = 1.2 + 0.35 * min(len(groups), MAX_BARS) if bars else 4.8
    figure, ax = plt.subplots(figsize=(6.4 if not bars else 8.0, max(height, 3.0)))
    if len(keys) == 1:
        _line(ax, ok, keys[0], name)
    elif not bars and len(keys) == 2 and all(len(_values(ok, k)) <= 12 for k in keys):
        _heatmap(figure, ax, ok, keys[0], keys[1], name, sign)
    elif bars:
        _bars(ax, ok, keys, name, sign)
    else:
        _scatter(figure, ax, ok, keys[0], keys[1], name, sign)
    figure.tight_layout()
    path = sweep_dir / PICTURE
    figure.savefig(path, dpi=100)
    plt.close(figure)
    _optuna_plots(sweep_dir)
    return path


def _line(ax: Any, runs: list[dict[str, Any]], key: str, name: str) -> None:
    values = _values(runs, key)
    by_value = defaultdict(list)
    for run in runs:
        by_value[_param(run, key)].append(run["objective"])
    numeric = all(_number(v) is not None for v in values)
    xs = [_number(v) if numeric else i for i, v in enumerate(values)]
    means = [sum(by_value[v]) / len(by_value[v]) for v in values]
    stds = [_std(by_value[v]) for v in values]
    ax.errorbar(xs, means, yerr=stds, marker="o", capsize=4, label="mean ± std over seeds")
    for x, v in zip(xs, values, strict=True):
        ax.scatter([x] * len(by_value[v]), by_value[v], color="gray", s=10, alpha=0.6)
    if numeric and _log_scale(values):
        ax.set_xscale("log")
    if not numeric:
        ax.set_xticks(xs, values, rotation=30, ha="right")
    ax.set(xlabel=key, ylabel=name, title=f"{name} by {key}")
    ax.grid(alpha=0.3)
    ax.legend()


def _std(values: list[float]) -> float:
    if len(values) < 2:
        return 0.0
    mean = sum(values) / len(values)
    return math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))


def _heatmap(figure: Any, ax: Any, runs: list[dict[str, Any]], x_key: str, y_key: str, name: str, sign: int) -> None:
    xs, ys = _values(runs, x_key), _values(runs, y_key)
    cells = defaultdict(list)
    for run in runs:
        cells[(_param(run, x_key), _param(run, y_key))].append(run["objective"])
    grid = [[sum(cells[(x, y)]) / len(cells[(x, y)]) if cells[(x, y)] else math.nan for x in xs] for y in ys]
    # The better end of the scale is the bright one (viridis' yellow), whichever the direction.
    image = ax.imshow(grid, cmap="viridis_r" if sign > 0 else "viridis", aspect="auto", origin="lower")
    low, high = image.get_clim()
    for j, y in enumerate(ys):
        for i, x in enumerate(xs):
            if cells[(x, y)]:
                text = f"{grid[j][i]:.4g}" + (f"\n± {_std(cells[(x, y)]):.2g}" if len(cells[(x, y)]) > 1 else "")
                share = (grid[j][i] - low) / max(high - low, 1e-12)
                dark = share > 0.5 if sign > 0 else share < 0.5
                ax.text(i, j, text, ha="center", va="center", color="white" if dark else "black", fontsize=9)
    ax.set_xticks(range(len(xs)), xs, rotation=30, ha="right")
    ax.set_yticks(range(len(ys)), ys)
    ax.set(xlabel=x_key, ylabel=y_key, title=f"{name} (mean over seeds; {_better(sign)} is better)")
    figure.colorbar(image, ax=ax, label=name)


def _bars(ax: Any, runs: list[dict[str, Any]], keys: list[str], name: str, sign: int) -> None:
    """A bar of each setting's mean over its seeds (± std), best on top, each run a dot."""
    by_setting = defaultdict(list)
    for run in runs:
        by_setting[" ".join(f"{key}={_param(run, key)}" for key in keys)].append(run["objective"])
    labels = sorted(by_setting, key=lambda label: sign * sum(by_setting[label]) / len(by_setting[label]))
    labels = labels[:MAX_BARS][::-1]  # barh draws upwards: the best last, on top
    means = [sum(by_setting[label]) / len(by_setting[label]) for label in labels]
    ax.barh(range(len(labels)), means, xerr=[_std(by_setting[label]) for label in labels], color="tab:blue", alpha=0.6)
    for y, label in enumerate(labels):
        ax.scatter(by_setting[label], [y] * len(by_setting[label]), color="k", s=12, zorder=3)
    ax.set_yticks(range(len(labels)), labels, fontsize=8)
    ax.set(xlabel=f"{name} (mean ± std over seeds; {_better(sign)} is better)", title=f"{name} by setting, best on top")
    ax.grid(axis="x", alpha=0.3)


def _scatter(figure: Any, ax: Any, runs: list[dict[str, Any]], x_key: str, y_key: str, name: str, sign: int) -> None:
    xs = [_number(_param(r, x_key) or "nan") for r in runs]
    ys = [_number(_param(r, y_key) or "nan") for r in runs]
    colours = "viridis_r" if sign > 0 else "viridis"
    points = ax.scatter(xs, ys, c=[r["objective"] for r in runs], cmap=colours, s=40, edgecolors="k")
    best = min(runs, key=lambda r: sign * r["objective"])
    ax.scatter([_number(_param(best, x_key))], [_number(_param(best, y_key))], marker="*", s=250, color="red")
    for key, axis in ((x_key, "x"), (y_key, "y")):
        if _log_scale(_values(runs, key)):
            getattr(ax, f"set_{axis}scale")("log")
    ax.set(xlabel=x_key, ylabel=y_key, title=f"{name} of each run (star: best)")
    figure.colorbar(points, ax=ax, label=name)


def _optuna_plots(sweep_dir: Path) -> None:
    """Optuna's own plots, for a study that sampled (not a grid): history, importance, slice."""
    import json

    from gan_lightning.sweep.results import STUDY_FILE

    study_file = sweep_dir / STUDY_FILE
    if not study_file.is_file() or json.loads(study_file.read_text()).get("sampler") == "grid":
        return
    import matplotlib.pyplot as plt
    import optuna
    from optuna.importance import PedAnovaImportanceEvaluator
    from optuna.visualization import matplotlib as optuna_plots

    from gan_lightning.sweep.storage import load_study

    study = load_study(sweep_dir)
    complete = [t for t in study.get_trials(deepcopy=False) if t.state == optuna.trial.TrialState.COMPLETE]
    if len(complete) < 2:
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Optuna marks its matplotlib plots experimental
        plots = {
            "optuna_history.png": lambda: optuna_plots.plot_optimization_history(study),
            "optuna_importance.png": lambda: optuna_plots.plot_param_importances(
                study, evaluator=PedAnovaImportanceEvaluator()
            ),
            "optuna_slice.png": lambda: optuna_plots.plot_slice(study),
        }
        for file, draw in plots.items():
            try:
                axes = draw()
            except (ValueError, RuntimeError):  # e.g. importance needs parameters that vary
                continue
            first = axes.flat[0] if hasattr(axes, "flat") else axes
            first.figure.savefig(sweep_dir / file, dpi=100, bbox_inches="tight")
            plt.close(first.figure)
