"""Resuming continues the same run: same weights as never stopping, same noise, same logs."""

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import torch
from lightning.pytorch import Callback

from gan_lightning.train import train
from tests.conftest import compose_train, start_gan_train
from tests.test_train import read_events

# 39 batches an epoch: the half-way stop is mid-epoch and the resumed half crosses an epoch.
SMALL = ["data.batch_size=256", "trainer.deterministic=true", "trainer.log_every_n_steps=5"]


def last_checkpoint(run_dir: Path) -> dict:
    return torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)


def test_resume_gives_the_same_weights_as_one_straight_run(tmp_path):
    straight, split = tmp_path / "straight", tmp_path / "split"
    ema = "model.ema_decay=0.9"  # the EMA generator is state that must survive too
    train(compose_train(straight, *SMALL, ema, "trainer.max_steps=60"))
    train(compose_train(split, *SMALL, ema, "trainer.max_steps=30"))
    halfway = last_checkpoint(split)
    assert halfway["global_step"] == 30
    train(compose_train(split, *SMALL, ema, "trainer.max_steps=60", f"ckpt_path={split}"))

    expected, resumed = last_checkpoint(straight), last_checkpoint(split)
    assert resumed["global_step"] == expected["global_step"] == 60
    assert any(name.startswith("generator_ema.") for name in resumed["state_dict"])
    assert resumed["epoch"] == expected["epoch"] == 1
    assert expected["state_dict"].keys() == resumed["state_dict"].keys()
    for name, value in expected["state_dict"].items():
        assert torch.equal(value, resumed["state_dict"][name]), name
    # The fixed noise is the one drawn at the start, never redrawn.
    assert torch.equal(halfway["state_dict"]["fixed_noise"], resumed["state_dict"]["fixed_noise"])

    # One TensorBoard run, whose steps go on where they stopped.
    assert [p.name for p in (split / "tensorboard").iterdir() if p.is_dir()] == []
    assert len(list((split / "tensorboard").glob("events.out.tfevents.*"))) == 2
    steps = [s.step for s in read_events(split).Scalars("train/g_loss")]
    assert steps == sorted(set(steps)) and max(steps) > 55 and any(s < 30 for s in steps)


def gan_train(cwd: Path, *overrides: str) -> subprocess.Popen:
    return start_gan_train(cwd, "data.download=false", *overrides, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def finish(proc: subprocess.Popen, timeout: float = 120) -> str:
    out, _ = proc.communicate(timeout=timeout)
    return out


@pytest.mark.slow
def test_cli_resume_from_a_run_directory_continues_that_run(tmp_path):
    proc = gan_train(tmp_path, "debug=limit")
    out = finish(proc)
    assert proc.returncode == 0, out
    (run_dir,) = (tmp_path / "logs" / "train" / "runs").iterdir()
    assert (run_dir / ".hydra" / "config.yaml").is_file()
    assert last_checkpoint(run_dir)["global_step"] == 20

    proc = gan_train(tmp_path, "debug=limit", "trainer.max_steps=30", f"ckpt_path={run_dir}")
    out = finish(proc)
    assert proc.returncode == 0, out
    assert list((tmp_path / "logs" / "train" / "runs").iterdir()) == [run_dir]  # no new run
    assert last_checkpoint(run_dir)["global_step"] == 30
    assert (run_dir / "samples" / "step0000030.png").is_file()
    (resume_config,) = (run_dir / ".hydra").glob("resume_*/config.yaml")
    assert "ckpt_path:" in resume_config.read_text()
    assert "ckpt_path: null" in (run_dir / ".hydra" / "config.yaml").read_text()  # first config kept


@pytest.mark.slow
def test_ctrl_c_saves_a_checkpoint_that_resumes(tmp_path):
    run_dir = tmp_path / "run"
    proc = gan_train(
        tmp_path,
        f"hydra.run.dir={run_dir}",
        "trainer.max_epochs=100",
        "callbacks.last_checkpoint.every_n_steps=0",
    )
    first_grid = run_dir / "samples" / "step0000000.png"
    deadline = time.monotonic() + 60
    while not first_grid.exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.2)
    assert first_grid.exists(), finish(proc)
    time.sleep(1.0)  # let it train a little
    proc.send_signal(signal.SIGINT)
    out = finish(proc)
    assert proc.returncode == 130, out
    assert "Resume with: gan-train ckpt_path=" in out

    saved = last_checkpoint(run_dir)
    assert saved["global_step"] > 0  # every_n_steps=0: only the Ctrl-C could have saved it
    proc = gan_train(tmp_path, f"ckpt_path={run_dir}", f"trainer.max_steps={saved['global_step'] + 5}")
    out = finish(proc)
    assert proc.returncode == 0, out
    assert last_checkpoint(run_dir)["global_step"] == saved["global_step"] + 5


class SigintAt(Callback):
    """Presses Ctrl-C (a real SIGINT to this process) once the run reaches ``step``."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_end(self, trainer, *args) -> None:
        if trainer.global_step == self.step:
            os.kill(os.getpid(), signal.SIGINT)


def test_ctrl_c_mid_epoch_then_resume_matches_a_straight_run(tmp_path):
    straight, split = tmp_path / "straight", tmp_path / "split"
    train(compose_train(straight, *SMALL, "logger=none", "trainer.max_steps=60"))
    sigint = ["+callbacks.sigint._target_=tests.test_resume.SigintAt", "+callbacks.sigint.step=30"]
    with pytest.raises(KeyboardInterrupt):
        train(compose_train(split, *SMALL, "logger=none", "trainer.max_steps=60", *sigint))
    assert last_checkpoint(split)["global_step"] in (30, 31)  # the iteration under way finishes
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # handler given back
    train(compose_train(split, *SMALL, "logger=none", "trainer.max_steps=60", f"ckpt_path={split}"))
    expected, resumed = last_checkpoint(straight), last_checkpoint(split)
    assert resumed["epoch"] == expected["epoch"]
    for name, value in expected["state_dict"].items():
        assert torch.equal(value, resumed["state_dict"][name]), name
