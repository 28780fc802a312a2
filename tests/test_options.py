"""Every option the README, docs/ and the configs offer, tried as a user runs it: one ``gan-train -m``
process trains a run per row of ``OPTIONS`` for a few steps, each row several options at once,
and every value of each kind of option is in some row. Their mistyped neighbours are refused in
one line (tests/test_cli.py, BAD_INPUT)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
import yaml
from omegaconf import OmegaConf
from torch import nn

from gan_lightning.losses import LOSSES
from gan_lightning.metrics.classifier import WEIGHTS_DIR
from gan_lightning.metrics.registry import METRICS
from gan_lightning.plumbing.errors import DEBUG_ENV
from gan_lightning.run import checks
from gan_lightning.sweep.trial import Trial
from gan_lightning.train import CONF_DIR
from tests.conftest import run_gan_train
from tests.test_configs import experiment_data

# What each kind of option offers: the groups of conf/ and the names of the registries.
EXPERIMENTS = sorted(p.stem for p in (CONF_DIR / "experiment").glob("*.yaml"))
LOGGERS = sorted(p.stem for p in (CONF_DIR / "logger").glob("*.yaml"))
FEATURES = [*checks.FEATURES, "mnist", "mnist32", "<file>"]
AUGMENT_P = [None, 0.5, "ada"]
CPU_PRECISIONS = ["32-true", "bf16-mixed"]  # what the docs offer a CPU

# One run each: an experiment, and one value of each other kind. ``metrics`` picks the scores
# (None: all; []: scoring off) and ``monitor`` what best.ckpt keeps; ``logs`` the val/* keys the
# run must log, beside the step's train/*.
OPTIONS = [
    # The default experiment keeps an EMA generator (model.ema_decay=0.999), scored beside G.
    dict(
        experiment="mnist_gan", loss="bce", metrics=None, logs={"val/fid", "val/modes", "val/precision", "val/fid_ema"}
    ),
    dict(
        experiment="mnist_gan",
        loss="bce_saturating",
        metrics=[],
        every_n_epochs=1,
        ema=None,
        precision="bf16-mixed",
        logger="csv",
        logs=set(),
    ),
    dict(experiment="mnist_gan_augment", loss="hinge", metrics=["fid"], features="mnist", augment_p=0.5),
    dict(
        experiment="mnist_cgan",
        loss="lsgan",
        metrics=["class_acc"],
        monitor=("val/class_acc", "max"),
        features="<file>",
        ema=0.99,
        logger="none",
    ),
    dict(experiment="mnist_dcgan", loss="wgan_gp", metrics=["kid"], monitor=("val/kid", "min"), features="mnist32"),
    dict(
        experiment="mnist_dcgan32",
        loss="rpgan",
        metrics=["is"],
        monitor=("val/is", "max"),
        augment=["cutout"],
        augment_p="ada",
        precision="bf16-mixed",
        logger="mlflow",
    ),
    dict(
        experiment="mnist_cdcgan32",
        metrics=["prdc"],
        monitor=("val/coverage", "max"),
        augment=["color", "translation"],
        logger="wandb",
        logs={"val/precision", "val/recall", "val/density", "val/coverage"},
    ),
    dict(
        experiment="mnist_r3gan32", metrics=["modes"], monitor=("val/modes", "max"), logs={"val/modes", "val/class_kl"}
    ),
    dict(
        experiment="stacked_mnist_dcgan32",
        model="resnet",
        pack=2,
        minibatch_std=4,
        metrics=["modes", "confident", "fid"],
        features="stacked_mnist",
    ),
    # The recipe (a 30-minute budget, scored at its end): a few steps, scored as the options are.
    dict(
        experiment="stacked_mnist_pacgan32",
        metrics=["modes", "confident"],
        monitor=("val/modes_confident", "max"),
        features="stacked_mnist",
    ),
    dict(experiment="fashion_dcgan", every_n_epochs=0, logs=set()),
    dict(experiment="celeba_dcgan", metrics=["fid", "kid"], features="inception"),
]


def _overrides(row: dict, tmp_path: Path) -> tuple[list[str], dict]:
    """The row as the lines of a config file: the groups it picks, and its values."""
    groups = [{"override /experiment": row["experiment"]}, {"override /logger": row.get("logger", "tensorboard")}]
    if "model" in row:
        groups.append({"override /model": row["model"]})
    values: dict = {"trainer": {"precision": row.get("precision", "32-true")}, "model": {}, "callbacks": {}}
    for key in ("loss", "augment", "augment_p", "pack"):
        if key in row:
            values["model"][key] = row[key]
    if "ema" in row:
        values["model"]["ema_decay"] = row["ema"]
    if "minibatch_std" in row:
        values["model"]["discriminator"] = {"minibatch_std": row["minibatch_std"]}
    if row.get("model") == "resnet":  # its 3x3 convolutions at full size: narrow, for a few steps
        values["model"].setdefault("discriminator", {})["base_width"] = 8
        values["model"]["generator"] = {"base_width": 8}
    quality = {"every_n_epochs": row.get("every_n_epochs", 1), "num_samples": 64, "batch_size": 64}
    if "metrics" in row:
        quality["metrics"] = row["metrics"]
    features = row.get("features", "auto")
    quality["features"] = str(WEIGHTS_DIR / "mnist.pt") if features == "<file>" else features
    if features == "inception":
        quality |= {"num_samples": 8, "batch_size": 8}  # Inception takes a second per dozen images here
    monitor, mode = row.get("monitor", ("val/fid", "min"))
    values["callbacks"] = {"sample_quality": quality, "best_checkpoint": {"monitor": monitor, "mode": mode}}
    config = OmegaConf.create(values)
    for override in experiment_data(tmp_path, row["experiment"]):  # the data sets not shipped
        key, value = override.split("=", 1)
        OmegaConf.update(config, key, yaml.safe_load(value))
    return groups, OmegaConf.to_container(config)


def _expected_logs(row: dict) -> set[str]:
    if "logs" in row:
        return row["logs"]
    return checks.metric_keys(row["metrics"])


def test_every_kind_of_option_is_in_some_row():
    def used(key: str, default=None) -> set:
        return {str(row.get(key, default)) for row in OPTIONS}

    assert used("experiment") == set(EXPERIMENTS)
    assert used("logger", "tensorboard") == set(LOGGERS)
    assert {row["loss"] for row in OPTIONS if "loss" in row} == set(LOSSES)
    chosen = {name for row in OPTIONS for name in row.get("metrics") or []}
    assert chosen == set(METRICS) and "None" in used("metrics") and "[]" in used("metrics")
    assert used("features", "auto") == set(FEATURES)
    assert {op for row in OPTIONS for op in row.get("augment", [])} == {"translation", "cutout", "color"}
    assert used("augment_p") == set(map(str, AUGMENT_P)) and used("precision", "32-true") == set(CPU_PRECISIONS)
    assert "0" in used("every_n_epochs")
    models = {p.stem for p in (CONF_DIR / "model").glob("*.yaml")}  # gan and dcgan: the experiments'
    assert used("model") - {"None"} == models - {"gan", "dcgan"}
    assert "2" in used("pack") and "4" in used("minibatch_std")
    assert {"None", "0.99"} <= used("ema", "default")


@pytest.mark.slow
def test_every_documented_option_trains_logs_and_keeps_its_best_checkpoint(tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    options = tmp_path / "options" / "option"
    options.mkdir(parents=True)
    for index, row in enumerate(OPTIONS):
        groups, values = _overrides(row, tmp_path)
        lines = ["# @package _global_", OmegaConf.to_yaml({"defaults": groups, **values})]
        (options / f"row{index:02d}.yaml").write_text("\n".join(lines))
    names = ",".join(f"row{index:02d}" for index in range(len(OPTIONS)))
    result = run_gan_train(
        tmp_path,
        "-m",
        f"hydra.searchpath=[file://{options.parent}]",
        f"+option={names}",
        "optimized_metric=train/d_loss",  # scoring differs by row: rank by what every row logs
        "trainer.max_steps=2",
        "data.limit=256",
        "trainer.enable_progress_bar=false",
        "trainer.enable_model_summary=false",
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    (sweep,) = (tmp_path / "logs" / "train" / "multiruns").iterdir()
    runs = {}  # the sweep numbers its runs in its own order: each row's run, by its override
    for path in sweep.glob("*/result.json"):
        record = json.loads(path.read_text())
        (option,) = [o for o in record["overrides"] if o.startswith("+option=")]
        runs[int(option.removeprefix("+option=row"))] = path.parent, record
    assert sorted(runs) == list(range(len(OPTIONS)))
    for index, row in enumerate(OPTIONS):
        run, record = runs[index]
        assert record["status"] == "ok", (row, record)
        metrics = record["metrics"]
        assert all(math.isfinite(metrics[key]) for key in ("train/d_loss", "train/g_loss")), row
        logged = {key for key in metrics if key.startswith("val/") and key != "val/eval_seconds"}
        expected = _expected_logs(row)
        assert expected <= logged, (row, logged)
        if row.get("metrics") is not None:  # only what was chosen
            assert {k.removesuffix("_ema") for k in logged} <= checks.metric_keys(row["metrics"]), (row, logged)
        monitor = row.get("monitor", ("val/fid",))[0]
        assert (run / "checkpoints" / "best.ckpt").is_file() == (monitor in logged), row
        assert (run / "checkpoints" / "last.ckpt").is_file()
        if "ema" in row:  # null: no EMA generator saved; a decay: one saved
            state = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
            assert any(k.startswith("generator_ema.") for k in state) == (row["ema"] is not None), row
        if row.get("precision") == "bf16-mixed":
            assert "bf16-mixed" in (run / ".hydra" / "config.yaml").read_text()
    logs = {row.get("logger", "tensorboard"): runs[i][0] for i, row in enumerate(OPTIONS)}
    assert list(logs["tensorboard"].glob("tensorboard/events.out.tfevents.*"))
    assert (logs["csv"] / "csv" / "metrics.csv").is_file()
    assert list(logs["wandb"].glob("wandb/offline-run-*"))
    assert (tmp_path / "logs" / "mlflow.db").is_file()
    assert not list(logs["none"].glob("tensorboard")) and not list(logs["none"].glob("csv"))


GPU_TRAINERS = ["gpu", "ddp", "multinode", "slurm"]


@pytest.mark.parametrize("trainer", GPU_TRAINERS)
def test_gpu_trainers_need_a_gpu(tmp_path, trainer):
    if not torch.cuda.is_available():
        pytest.skip(f"trainer={trainer} trains on GPUs; none here (trainer=cpu, ddp_cpu and devices=2: test_cli.py)")
    result = run_gan_train(tmp_path, f"trainer={trainer}", "debug=fdr")
    assert result.returncode == 0, result.stderr[-2000:]


class Boom(nn.Module):
    """A generator of one's own whose forward fails, as a bug in a user's network would."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1))

    def forward(self, *args: object) -> torch.Tensor:
        raise RuntimeError("boom: the generator failed")


@pytest.mark.slow
def test_the_debug_switch_shows_the_traceback_of_an_error_inside_training(tmp_path, monkeypatch):
    monkeypatch.setenv(DEBUG_ENV, "1")
    result = run_gan_train(tmp_path, "model.generator._target_=tests.test_options.Boom", "data.download=false")
    assert result.returncode == 1, result.stderr[-2000:]
    assert "Traceback (most recent call last)" in result.stderr and "trainer.fit(" in result.stderr
    assert "RuntimeError: boom: the generator failed" in result.stderr.strip().splitlines()[-1]


def test_a_lone_run_scored_by_nothing_is_ok_and_silent_about_its_objective(tmp_path, caplog):
    cfg = OmegaConf.create({"optimized_metric": "val/fid"})
    value = Trial(cfg, tmp_path, ["callbacks.sample_quality.every_n_epochs=0"], multirun=False).finish(
        {"train/d_loss": 0.7, "epochs": 1.0}
    )
    assert math.isnan(value) and not [r for r in caplog.records if r.levelname == "WARNING"]
    assert json.loads((tmp_path / "result.json").read_text())["status"] == "ok"
