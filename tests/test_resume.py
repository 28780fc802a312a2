"""Resuming continues the same run: same weights as never stopping, same noise, same logs."""

import os
import signal
import subprocess
from pathlib import Path

import pytest
import torch
from lightning.pytorch import Callback

from gan_lightning.errors import Interrupted
from gan_lightning.train import train
from tests.conftest import compose_train, start_gan_train
from tests.test_cli import NOISE

SMALL = ["data.batch_size=256", "trainer.deterministic=true", "trainer.log_every_n_steps=5"]


def last_checkpoint(run_dir: Path) -> dict:
    return torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)


def gan_train(cwd: Path, *overrides: str) -> subprocess.Popen:
    return start_gan_train(cwd, "data.download=false", *overrides, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def finish(proc: subprocess.Popen, timeout: float = 120) -> str:
    out, _ = proc.communicate(timeout=timeout)
    return out


class SignalAt(Callback):
    """Sends this process ``signum`` once the run reaches ``step``: a Ctrl-C or a scheduler's
    SIGTERM at a known iteration; with ``rank``, only that DDP rank gets it."""

    def __init__(self, step: int, signum: int = signal.SIGINT, rank: int | None = None) -> None:
        self.step, self.signum, self.rank = step, signum, rank

    def on_train_batch_end(self, trainer, *args) -> None:
        if trainer.global_step == self.step and self.rank in (None, trainer.global_rank):
            os.kill(os.getpid(), self.signum)


# A small DCGAN, its batch and its limit: all must come back from the printed line alone.
DCGAN = [
    "experiment=mnist_dcgan32",
    "model.generator.base_width=8",
    "model.discriminator.base_width=8",
    "data.batch_size=16",
    "trainer.max_steps=20",
    "trainer.deterministic=true",
    "callbacks.sample_quality.num_samples=100",
    "trainer.enable_progress_bar=false",
]


@pytest.mark.slow
def test_ctrl_c_saves_and_the_printed_line_resumes_the_same_run(tmp_path):
    """SIGTERM from a scheduler takes the same path to the same line (exit 143): tested as
    processes in test_cli.py (DDP) and test_records.py (during the final save)."""
    signum, status = signal.SIGINT, 130
    stop = ["+callbacks.signal._target_=tests.test_resume.SignalAt", "+callbacks.signal.step=8"]
    proc = gan_train(tmp_path, *DCGAN, *stop, f"+callbacks.signal.signum={int(signum)}")
    out = finish(proc)
    assert proc.returncode == status, out
    for noise in NOISE:  # a default run's console is quiet too
        assert noise not in out, noise
    (run_dir,) = (tmp_path / "logs" / "train" / "runs").iterdir()
    assert out.count(f"Run directory: {run_dir}") == 2  # at the start and at the end
    stopped = last_checkpoint(run_dir)
    # Sent at the end of step 8, after the run looked for signals: it stops after step 9.
    assert stopped["global_step"] == 9  # mid-epoch: 625 batches make one...
    assert stopped["loops"]["fit_loop"]["epoch_progress"]["current"]["completed"] == 0  # ...still under way
    printed = out.strip().splitlines()[-1]
    assert printed.startswith(f"Interrupted ({signum.name}) at step 9; last.ckpt saved. Resume with: gan-train ")
    command = printed.split("Resume with: gan-train ")[1].split()  # exactly as printed

    proc = gan_train(tmp_path, *command)
    out = finish(proc)
    assert proc.returncode == 0, out
    assert "differ from the run's own" not in out  # nothing typed, nothing changed
    resumed = last_checkpoint(run_dir)
    assert resumed["global_step"] == 20  # its own trainer.max_steps
    assert resumed["callbacks"]["RunRecord"]["config"]["data"]["batch_size"] == 16

    straight = tmp_path / "straight"
    train(compose_train(straight, *DCGAN, "logger=none"))
    for name, value in last_checkpoint(straight)["state_dict"].items():
        assert torch.equal(value, resumed["state_dict"][name]), name


def test_ctrl_c_in_a_notebook_raises_interrupted_and_gives_the_handler_back(tmp_path):
    """train() called from Python (a notebook): the interrupt is an exception with the exit
    status, after the iteration under way; the caller's SIGINT handler is restored."""
    sigint = ["+callbacks.sigint._target_=tests.test_resume.SignalAt", "+callbacks.sigint.step=3"]
    handler = signal.getsignal(signal.SIGINT)  # Python's, or SIG_IGN in a job a shell put in the background
    with pytest.raises(Interrupted, match="Interrupted .SIGINT. at step 4; last.ckpt saved") as stopped:
        train(compose_train(tmp_path, *SMALL, "logger=none", "trainer.max_steps=60", *sigint))
    assert stopped.value.exit_code == 130
    assert last_checkpoint(tmp_path)["global_step"] == 4  # the iteration under way finished, then it stopped
    assert signal.getsignal(signal.SIGINT) is handler  # the handler given back


@pytest.mark.slow
def test_a_config_dir_run_resumes_with_its_folder_and_a_moved_checkpoint_as_its_run(tmp_path):
    """``--config-dir`` comes back on a resume; a checkpoint copied out of its run directory
    resumes with the overrides it keeps, into a new run directory (README, Resuming)."""
    (tmp_path / "myconf" / "experiment").mkdir(parents=True)
    (tmp_path / "myconf" / "experiment" / "tiny.yaml").write_text("# @package _global_\ndata:\n  batch_size: 32\n")
    config_dir = ["--config-dir", str(tmp_path / "myconf")]
    run_dir = tmp_path / "run"
    common = ["trainer.enable_progress_bar=false", "callbacks.sample_quality=null", "logger=none"]
    finish_ok(tmp_path, *config_dir, "experiment=tiny", *common, "trainer.max_steps=2", f"hydra.run.dir={run_dir}")
    out = finish_ok(tmp_path, f"ckpt_path={run_dir}", "trainer.max_steps=4")
    assert "experiment=tiny" in restored(out)  # found again, without --config-dir typed
    resumed = last_checkpoint(run_dir)
    assert resumed["global_step"] == 4 and resumed["callbacks"]["RunRecord"]["config"]["data"]["batch_size"] == 32

    moved = tmp_path / "elsewhere" / "checkpoints" / "step4.ckpt"
    moved.parent.mkdir(parents=True)
    moved.write_bytes((run_dir / "checkpoints" / "last.ckpt").read_bytes())
    out = finish_ok(tmp_path, *config_dir, f"ckpt_path={moved}", "trainer.max_steps=6")
    assert "experiment=tiny" in restored(out)  # the overrides the checkpoint keeps
    (new_run,) = (tmp_path / "logs" / "train" / "runs").iterdir()  # a run directory of its own
    again = last_checkpoint(new_run)
    assert again["global_step"] == 6 and again["callbacks"]["RunRecord"]["config"]["data"]["batch_size"] == 32
    assert last_checkpoint(run_dir)["global_step"] == 4  # the run it came from is left alone


def restored(out: str) -> list[str]:
    (line,) = [line for line in out.splitlines() if "Resuming as this run: " in line]
    return line.split("Resuming as this run: ")[1].split()


def finish_ok(cwd: Path, *args: str) -> str:
    """``gan-train *args`` (options first, as argparse wants them), to its end, exit 0."""
    proc = start_gan_train(cwd, *args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out = finish(proc)
    assert proc.returncode == 0, out[-3000:]
    return out
