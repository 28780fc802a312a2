"""Loggers beyond TensorBoard: scalars, hyperparameters and the fixed-noise grids reach each one
that takes them, offline, where it keeps them."""

from __future__ import annotations

import csv

import pytest
from PIL import Image

from gan_lightning.sample import main as gan_sample
from gan_lightning.train import train
from tests.conftest import compose_train
from tests.test_train import SCALARS, read_events

SHORT = ["trainer.max_steps=6", "trainer.log_every_n_steps=2", "callbacks.fixed_noise_grid.every_n_steps=3"]


def test_csv_and_tensorboard_together(tmp_path):
    train(compose_train(tmp_path, *SHORT, "logger=[tensorboard,csv]"))
    with open(tmp_path / "csv" / "metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert SCALARS <= set(rows[0]) and [int(r["step"]) for r in rows if r["train/d_loss"]] == [2, 4, 6]
    assert "model.g_optimizer.lr: 0.0002" in (tmp_path / "csv" / "hparams.yaml").read_text()
    assert "samples/fixed_noise" in read_events(tmp_path).Tags()["images"]  # TensorBoard as before


def test_gan_sample_draws_the_loss_curves_from_the_csv(tmp_path):
    train(compose_train(tmp_path, *SHORT, "logger=csv"))
    gan_sample([str(tmp_path), "losses"])
    image = Image.open(tmp_path / "generated" / "losses.png")
    assert image.size[0] > 2 * image.size[1]  # losses, D's outputs and val/fid side by side


@pytest.mark.slow
def test_mlflow_keeps_scalars_hyperparameters_and_grids_in_its_local_store(tmp_path):
    pytest.importorskip("mlflow")
    from mlflow.tracking import MlflowClient

    logs = tmp_path / "logs"
    train(compose_train(tmp_path / "run", *SHORT, "logger=mlflow", f"paths.log_dir={logs}"))
    client = MlflowClient(tracking_uri=f"sqlite:///{logs}/mlflow.db")
    (run,) = client.search_runs([client.get_experiment_by_name("train").experiment_id])
    assert run.info.run_name == str(tmp_path / "run")
    assert [m.step for m in client.get_metric_history(run.info.run_id, "train/d_loss")] == [2, 4, 6]
    assert float(run.data.params["model.g_optimizer.lr"]) == 2e-4 and "embedded" in run.data.params["data/source"]
    grids = sorted(p.name for p in logs.glob("mlflow_artifacts/*/artifacts/samples/fixed_noise/*.png"))
    assert grids == ["step0000000.png", "step0000003.png", "step0000006.png"]


@pytest.mark.slow
def test_wandb_offline_keeps_the_run_and_its_grids_on_disk(tmp_path, monkeypatch):
    pytest.importorskip("wandb")
    monkeypatch.setenv("WANDB_SILENT", "true")
    train(compose_train(tmp_path, *SHORT, "logger=wandb", "logger.wandb.offline=true"))
    (offline,) = (tmp_path / "wandb").glob("offline-run-*")
    assert list(offline.glob("*.wandb"))  # the run's record, which `wandb sync` uploads
    grids = [p.name for p in offline.glob("files/media/images/samples/fixed_noise_*.png")]
    ema = [name for name in grids if name.startswith("fixed_noise_ema_")]  # the default keeps an EMA generator
    assert len(grids) - len(ema) == 3 and len(ema) == 3
