"""A stopped and resumed run leaves the records of one that was not: the same CSV history, the
same best.ckpt, the same epochs, scorings and grids, and a result.json. Each command here is its
own ``gan-train`` process, as a user runs them."""

import csv
import json
import os
import subprocess
from pathlib import Path

import pytest
import torch

from gan_lightning.train import train
from tests.conftest import compose_train, start_gan_train
from tests.test_train import read_events

# Each epoch is scored.
FAST = [
    "data.download=false",
    "trainer.deterministic=true",
    "callbacks.sample_quality.num_samples=500",
    "callbacks.periodic_checkpoint.every_n_epochs=1",
    "trainer.enable_progress_bar=false",
    "trainer.enable_model_summary=false",
]


def gan_train(cwd: Path, *overrides: str, expect: int = 0) -> str:
    proc = start_gan_train(cwd, *overrides, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out, _ = proc.communicate(timeout=240)
    assert proc.returncode == expect, out[-3000:]
    return out


def checkpoint(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)


def assert_same_weights(a: dict, b: dict) -> None:
    assert a["global_step"] == b["global_step"] and a["epoch"] == b["epoch"]
    differ = [name for name, value in a["state_dict"].items() if not torch.equal(value, b["state_dict"][name])]
    assert not differ, differ[:3]


def scorings(run_dir: Path) -> list[str]:
    """The epochs scored, in the order the console log says so (every command appends to it)."""
    lines = (run_dir / "train.log").read_text().splitlines()
    return [line.split(" - ")[1].split(":")[0] for line in lines if "scored in" in line]


def read_csv(run_dir: Path) -> list[dict[str, str]]:
    with open(run_dir / "csv" / "metrics.csv", newline="") as file:
        return list(csv.DictReader(file))


def logged(run_dir: Path, key: str) -> list[tuple[int, str]]:
    return [(int(row["step"]), row[key]) for row in read_csv(run_dir) if row[key]]


@pytest.mark.slow
def test_resumes_from_epoch_end_checkpoints_train_and_record_what_an_unbroken_run_does(tmp_path):
    # 4 iterations an epoch; both limits set, epochs decide. Losses every 2 steps, to both logs.
    limits = ["data.limit=2048", "data.batch_size=512", "trainer.max_steps=1000", "trainer.log_every_n_steps=2"]
    limits += ["logger=[tensorboard,csv]"]
    straight, run_dir = tmp_path / "straight", tmp_path / "run"
    # The unbroken run in this process: reruns in new processes have tests of their own.
    train(compose_train(straight, *FAST, *limits, "trainer.max_epochs=3"))
    gan_train(tmp_path, *FAST, *limits, "trainer.max_epochs=1", f"hydra.run.dir={run_dir}")
    # Two resumes: from the epoch-end last.ckpt, then from the periodic checkpoint of the epoch
    # just closed; each command typed as a user would, the run's settings restored.
    out = gan_train(tmp_path, f"ckpt_path={run_dir}", "trainer.max_epochs=2")
    gan_train(tmp_path, f"ckpt_path={run_dir}/checkpoints/epoch001-step0000008.ckpt", "trainer.max_epochs=3")

    expected = checkpoint(straight / "checkpoints" / "last.ckpt")
    assert expected["global_step"] == 12 and expected["epoch"] == 3
    best = checkpoint(straight / "checkpoints" / "best.ckpt")
    # The resumed run against the unbroken one.
    assert_same_weights(expected, checkpoint(run_dir / "checkpoints" / "last.ckpt"))
    assert scorings(run_dir) == ["epoch 0", "epoch 1", "epoch 2"]  # each once, across three commands
    assert sorted(os.listdir(run_dir / "samples")) == sorted(os.listdir(straight / "samples"))
    # best.ckpt: the run's best, one file however many resumes.
    assert sorted(p.name for p in (run_dir / "checkpoints").glob("best*")) == ["best.ckpt"]
    assert best["global_step"] in (4, 8, 12)
    assert_same_weights(best, checkpoint(run_dir / "checkpoints" / "best.ckpt"))
    result = json.loads((run_dir / "result.json").read_text())
    assert result["epochs"] == 3 and result["metrics"]["iterations"] == 12

    # The same run directory, its first config kept, each resume's saved beside it.
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_dir()) == ["run", "straight"]
    assert "ckpt_path: null" in (run_dir / ".hydra" / "config.yaml").read_text()
    assert len(list((run_dir / ".hydra").glob("resume_*/config.yaml"))) == 2
    assert "will be deleted" not in out
    # The CSV history goes on: every logged step once, in order, with the unbroken run's values.
    losses = logged(run_dir, "train/g_loss")
    assert [step for step, _ in losses] == list(range(2, 13, 2))
    assert losses == logged(straight, "train/g_loss")
    assert logged(run_dir, "val/fid") == logged(straight, "val/fid") and len(logged(run_dir, "val/fid")) == 3
    assert "trainer.max_epochs: '3'" in (run_dir / "tensorboard" / "hparams.yaml").read_text()
    # One TensorBoard run (no version folder), its steps going on where they stopped.
    tensorboard = run_dir / "tensorboard"
    assert [p.name for p in tensorboard.iterdir() if p.is_dir()] == []
    assert len(list(tensorboard.glob("events.out.tfevents.*"))) == 3
    assert [s.step for s in read_events(run_dir).Scalars("train/g_loss")] == list(range(2, 13, 2))
