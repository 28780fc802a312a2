"""The recipes of docs/extending.md, as a user follows them: their code blocks copied into a
project folder, each selected by the overrides the page gives, all trained at once in one
``gan-train`` process, and what each logs checked; then gan-eval and gan-sample on the run."""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys

import pytest
import torch

from tests.conftest import REPO

PAGE = REPO / "docs" / "extending.md"


def recipe_files() -> dict[str, str]:
    """Each code block of the page that opens with a comment naming its file: {path: code}."""
    blocks = re.findall(r"```(?:python|yaml)\n# (\S+)\n(.*?)```", PAGE.read_text(), flags=re.S)
    return {path: code for path, code in blocks}


def test_the_page_has_a_recipe_for_each_seam():
    files = recipe_files()
    assert set(files) == {
        "my_loss.py",
        "my_augment.py",
        "my_networks.py",
        "myconf/model/tiny.yaml",
        "my_data.py",
        "myconf/data/mirrored_digits.yaml",
        "my_metric.py",
        "my_callback.py",
    }
    commands = re.findall(r"```bash\n(PYTHONPATH=\. gan-train .*)\n```", PAGE.read_text())
    assert len(commands) == 6  # loss, augmentation, network, data set, metric, callback


@pytest.mark.slow
def test_every_recipe_trains_logs_and_is_evaluated_and_sampled(tmp_path):
    for path, code in recipe_files().items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(code)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([".", str(REPO)]), "PYTHONUNBUFFERED": "1"}
    # Every recipe's overrides, as the page gives them, at once.
    recipes = [
        "--config-dir",
        "myconf",
        "imports=[my_loss,my_augment,my_metric]",
        "model.loss=squared_hinge",
        "model.augment=[hflip,translation]",
        "model=tiny",
        "data=mirrored_digits",
        "callbacks.sample_quality.metrics=[fid,mean_gap]",
        "+callbacks.lr._target_=my_callback.LogLearningRates",
    ]
    short = ["trainer.max_steps=4", "trainer.log_every_n_steps=1", "callbacks.sample_quality.num_samples=200"]
    short += ["logger=csv", "trainer.enable_progress_bar=false", "hydra.run.dir=run"]
    command = [sys.executable, "-m", "gan_lightning.train", *recipes, *short]
    result = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    run = tmp_path / "run"
    metrics = json.loads((run / "result.json").read_text())["metrics"]
    assert math.isfinite(metrics["val/mean_gap"]) and metrics["val/mean_gap"] > 0  # the metric
    assert math.isfinite(metrics["val/fid"]) and "val/kid" not in metrics
    assert metrics["train/lr_g"] == metrics["train/lr_d"] == pytest.approx(2e-4)  # the callback
    checkpoint = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)
    settings = checkpoint["hyper_parameters"]
    assert settings["loss"] == "squared_hinge" and list(settings["augment"]) == ["hflip", "translation"]
    assert settings["generator"]["_target_"] == "my_networks.TinyGenerator"  # the networks
    assert "discriminator.score.weight" in checkpoint["state_dict"]
    assert "MirroredDigits" in (run / ".hydra" / "config.yaml").read_text()  # the data set

    # gan-eval and gan-sample import the run's own modules again (a resume restores its imports=).
    evaluate = [sys.executable, "-m", "gan_lightning.evaluate", "run", "--num-samples", "100", "--json", "scores.json"]
    result = subprocess.run(evaluate, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "MEAN_GAP" in result.stdout.splitlines()[1]  # a column of the table
    sample = [sys.executable, "-m", "gan_lightning.sample", "run", "grid"]
    result = subprocess.run(sample, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert list((run / "generated").glob("*.png"))
