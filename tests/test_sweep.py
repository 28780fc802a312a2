"""Hydra multirun: a run directory, a TensorBoard run and a summary row per run."""

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import run_gan_train
from tests.test_train import read_events

TINY = ["debug=limit", "trainer.max_steps=5", "data.download=false", "trainer.enable_progress_bar=false"]


def the_sweep(cwd: Path) -> Path:
    (sweep_dir,) = (cwd / "logs" / "train" / "multiruns").iterdir()
    return sweep_dir


def summary_rows(sweep_dir: Path) -> list[dict]:
    with open(sweep_dir / "summary.csv") as f:
        return list(csv.DictReader(f))


@pytest.mark.slow
def test_a_2x2_grid_gives_four_runs_four_tensorboard_runs_and_a_summary(tmp_path):
    grid = ["-m", "model.g_optimizer.lr=1e-4,2e-4", "model.g_optimizer.betas.0=0.5,0.0"]
    result = run_gan_train(tmp_path, *grid, *TINY)
    assert result.returncode == 0, result.stderr[-3000:]
    sweep_dir = the_sweep(tmp_path)
    runs = sorted(p.name for p in sweep_dir.iterdir() if p.is_dir())
    assert runs == ["0", "1", "2", "3"]
    for run in runs:
        events = read_events(sweep_dir / run)
        assert "train/g_loss" in events.Tags()["scalars"]
        assert "_hparams_/session_start_info" in events.PluginTagToContent("hparams")

    rows = summary_rows(sweep_dir)
    assert len(rows) == 4 and all(row["status"] == "ok" for row in rows)
    fids = [float(row["val/fid"]) for row in rows]
    assert fids == sorted(fids) and fids[0] > 0  # best first, by sample quality
    lrs = {row["overrides"].split(" ")[0] for row in rows}
    assert lrs == {"model.g_optimizer.lr=0.0001", "model.g_optimizer.lr=0.0002"}
    markdown = (sweep_dir / "summary.md").read_text()
    assert f"Best: run {rows[0]['run']}" in markdown and markdown in result.stdout  # printed too
    assert f"Resume it: gan-train ckpt_path={sweep_dir.relative_to(tmp_path) / rows[0]['run']}" in markdown

    # The summary can be rebuilt from the directory alone.
    (sweep_dir / "summary.csv").unlink()
    (sweep_dir / "summary.md").unlink()
    rebuilt = subprocess.run(
        [sys.executable, "-m", "gan_lightning.sweep", str(sweep_dir)], capture_output=True, text=True, check=True
    )
    assert summary_rows(sweep_dir) == rows and "Best: run" in rebuilt.stdout


@pytest.mark.slow
def test_failed_runs_are_recorded_and_the_sweep_goes_on(tmp_path):
    poison = ["+callbacks.poison._target_=tests.test_hardening.PoisonGenerator", "+callbacks.poison.step=2,100"]
    guard = "callbacks.divergence_guard.every_n_steps=1"
    result = run_gan_train(tmp_path, "-m", "data.batch_size=0,64", *poison, guard, *TINY)
    assert result.returncode == 0, result.stderr[-3000:]
    rows = summary_rows(the_sweep(tmp_path))
    assert [row["status"] for row in rows] == ["ok", "failed", "failed", "failed"]
    assert "+callbacks.poison.step=100" in rows[0]["overrides"] and "data.batch_size=64" in rows[0]["overrides"]
    errors = sorted(row["error"] for row in rows[1:])
    assert errors[0].startswith("data.batch_size=0: must be at least 1")
    assert errors[2].startswith("step 3: train/d_loss is nan")


@pytest.mark.slow
def test_multirun_with_a_multi_process_trainer_is_refused_per_run(tmp_path):
    result = run_gan_train(tmp_path, "-m", "trainer=ddp_cpu", "model.g_optimizer.lr=1e-4,2e-4", *TINY)
    assert result.returncode == 0, result.stderr[-3000:]
    sweep_dir = the_sweep(tmp_path)
    assert sorted(p.name for p in sweep_dir.iterdir() if p.is_dir()) == ["0", "1"]  # no sweep started twice
    for run in ("0", "1"):
        outcome = json.loads((sweep_dir / run / "result.json").read_text())
        assert outcome["status"] == "failed" and "-m with a multi-process trainer" in outcome["error"]


@pytest.mark.slow
def test_optuna_search_runs_its_trials_and_reports_the_best(tmp_path):
    result = run_gan_train(tmp_path, "hparams_search=optuna", "hydra.sweeper.n_trials=3", *TINY)
    assert result.returncode == 0, result.stderr[-3000:]
    sweep_dir = the_sweep(tmp_path)
    rows = summary_rows(sweep_dir)
    assert len(rows) == 3 and all(row["status"] == "ok" for row in rows)
    assert all("model.d_optimizer.betas.1=" in row["overrides"] for row in rows)
    assert "best_value" in (sweep_dir / "optimization_results.yaml").read_text()


@pytest.mark.slow
@pytest.mark.parametrize("launcher", ["joblib", "submitit_local"])
def test_parallel_and_submitit_launchers_run_the_sweep(tmp_path, launcher):
    result = run_gan_train(tmp_path, "-m", f"hydra/launcher={launcher}", "model.g_optimizer.lr=1e-4,2e-4", *TINY)
    assert result.returncode == 0, result.stderr[-3000:]
    rows = summary_rows(the_sweep(tmp_path))
    assert len(rows) == 2 and all(row["status"] == "ok" for row in rows)


def test_the_slurm_launcher_composes(tmp_path):
    result = run_gan_train(tmp_path, "hydra/launcher=submitit_slurm", "--cfg", "hydra", "--package", "hydra.launcher")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "SlurmLauncher" in result.stdout
