"""Resuming continues the same run: same weights as never stopping, same noise, same logs."""

import csv
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import torch
from lightning.pytorch import Callback

from gan_lightning.plumbing.errors import Interrupted
from gan_lightning.train import train
from tests.conftest import Console, assert_as_it_was, compose_train, run_files, start_gan_train
from tests.test_cli import NOISE
from tests.test_hardening import EVERY_STEP, _file_size_limit

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


@pytest.mark.slow
def test_signals_from_outside_during_scoring_set_up_and_a_checkpoint_write(tmp_path):
    """Ctrl-C and SIGTERM sent from another process, as a terminal or a scheduler sends them, at
    four moments the run announces or shows: each stop is one line and loses nothing, and the
    printed line goes on to the weights of an unbroken run, each epoch scored once."""
    run_dir, ckpts = tmp_path / "run", tmp_path / "run" / "checkpoints"
    limits = ["trainer.max_epochs=2", "+trainer.limit_train_batches=10", "trainer.enable_progress_bar=false"]
    limits += ["callbacks.sample_quality.num_samples=500"]

    # Ctrl-C while epoch 0 is scored: the scores are kept, and it stops after the next iteration.
    run = Console(tmp_path, "data.download=false", f"hydra.run.dir={run_dir}", "logger=csv", *limits)
    run.wait_for("epoch 0: scoring 500 samples")
    run.proc.send_signal(signal.SIGINT)
    status, lines = run.finish()
    assert status == 130, lines[-20:]
    assert lines[-1] == f"Interrupted (SIGINT) at step 11; last.ckpt saved. Resume with: gan-train ckpt_path={run_dir}"
    assert any("epoch 0: val/fid" in line for line in lines)  # scoring finished after the signal
    assert sum(f"Run directory: {run_dir}" in line for line in lines) == 2  # at the start and at the end
    for noise in NOISE:  # a default run's console is quiet
        assert not any(noise in line for line in lines), noise
    command = lines[-1].split("Resume with: gan-train ")[1].split()  # exactly as printed

    # SIGTERM during set-up of that resume: nothing trained, the run left as it was.
    before = run_files(run_dir)
    run = Console(tmp_path, *command)
    run.wait_for("Run directory:")  # printed before Lightning is imported and the data loaded
    run.proc.send_signal(signal.SIGTERM)
    status, lines = run.finish()
    assert status == 143, lines[-20:]
    assert lines[-1] == "Interrupted (SIGTERM) during set-up: nothing trained, nothing saved"
    assert not any("differ from the run's own" in line for line in lines)  # nothing typed, nothing changed
    # Checkpoints, metrics, configs: as they were, no config of this attempt (Lightning's CSV
    # logger writes its hparams.yaml at set-up).
    assert_as_it_was(before, run_files(run_dir), "csv/hparams.yaml")

    # SIGTERM while a checkpoint is being written (last.ckpt saved every iteration from here on).
    run = Console(tmp_path, *command, "callbacks.last_checkpoint.every_n_steps=1")
    while not list(ckpts.glob(".*.tmp")) and run.proc.poll() is None:
        time.sleep(0.001)
    run.proc.send_signal(signal.SIGTERM)
    status, lines = run.finish()
    assert status == 143, lines[-20:]
    step = last_checkpoint(run_dir)["global_step"]  # whole and loadable: the write was not cut
    assert (
        lines[-1]
        == f"Interrupted (SIGTERM) at step {step}; last.ckpt saved. Resume with: gan-train ckpt_path={run_dir}"
    )
    assert 12 < step < 20 and not list(ckpts.glob(".*.tmp"))

    # SIGTERM during the last scoring, after the last iteration: the run is whole, its result kept.
    run = Console(tmp_path, *command)
    run.wait_for("epoch 1: scoring 500 samples")
    run.proc.send_signal(signal.SIGTERM)
    status, lines = run.finish()
    assert status == 143, lines[-20:]
    assert lines[-1] == "SIGTERM at step 20, as the run finished; its result is kept"
    result = json.loads((run_dir / "result.json").read_text())
    assert result["status"] == "ok" and result["epochs"] == 2 and result["metrics"]["val/fid"] > 0
    resumed = last_checkpoint(run_dir)
    assert resumed["global_step"] == 20
    with open(run_dir / "csv" / "metrics.csv", newline="") as file:
        scored = {int(row["step"]): float(row["val/fid"]) for row in csv.DictReader(file) if row["val/fid"]}
    assert list(scored) == [10, 20]  # each epoch scored once, across four processes
    # best.ckpt, updated (or not) after the signal: the step of the lower val/fid.
    assert torch.load(ckpts / "best.ckpt", weights_only=True)["global_step"] == min(scored, key=scored.get)

    straight = tmp_path / "straight"  # unscored: scoring draws nothing from training's random numbers
    train(compose_train(straight, *limits, "callbacks.sample_quality=null", "logger=none"))
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
def test_resumes_typed_on_the_command_line_go_on_as_the_run_or_say_why_not(tmp_path):
    """A run started with ``--config-dir``, resumed as a user types it: as itself, its folder
    found again; from a checkpoint moved out of it, into a run directory of its own; and, where
    it cannot go on (finished, other networks, a corrupt file, a truncated last.ckpt, a full
    disk, a divergence), in one line with its exit status, the run's files (its checkpoints, for
    the last two, which train first) as they were."""
    (tmp_path / "myconf" / "experiment").mkdir(parents=True)
    (tmp_path / "myconf" / "experiment" / "tiny.yaml").write_text("# @package _global_\ndata:\n  batch_size: 32\n")
    config_dir = ["--config-dir", str(tmp_path / "myconf")]
    run_dir, ckpts = tmp_path / "run", tmp_path / "run" / "checkpoints"
    limits = [
        "trainer.max_epochs=2",
        "+trainer.limit_train_batches=5",
        "callbacks.periodic_checkpoint.every_n_epochs=1",
    ]
    limits += ["callbacks.sample_quality.num_samples=500", "logger=none", "trainer.enable_progress_bar=false"]
    finish_ok(tmp_path, *config_dir, "data.download=false", "experiment=tiny", *limits, f"hydra.run.dir={run_dir}")
    last, whole = ckpts / "last.ckpt", (ckpts / "last.ckpt").read_bytes()
    result = json.loads((run_dir / "result.json").read_text())
    (run_dir / "result.json").unlink()  # lost (a SIGKILL before it was written): the finished run writes it again

    def resume(*args: str, status: int, **popen) -> str:
        """The command's output; checks its status, and that the run's files are as they were."""
        trains = "preexec_fn" in popen or EVERY_STEP in args
        before = run_files(ckpts if trains else run_dir)
        proc = start_gan_train(tmp_path, *args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, **popen)
        out = finish(proc)
        assert proc.returncode == status, out[-2000:]
        assert "Traceback" not in out and not list(ckpts.glob(".*.tmp"))
        finished = status == 0 and not trains  # its result.json is written again
        assert_as_it_was(before, run_files(ckpts if trains else run_dir), *(["result.json"] if finished else []))
        return out

    out = resume(f"ckpt_path={run_dir}", status=0)
    assert "experiment=tiny" in restored(out)  # found again, without --config-dir typed
    assert (
        out.strip().splitlines()[-1].endswith("already finished 2 epochs of trainer.max_epochs=2; raise it to train on")
    )
    assert json.loads((run_dir / "result.json").read_text())["metrics"] == result["metrics"]  # from last.ckpt

    out = resume(f"ckpt_path={run_dir}", "model.latent_dim=64", status=2)
    assert out.strip().splitlines()[-1] == f"error: ckpt_path={last} holds other networks than this run builds: " + (
        "model.latent_dim=100 there, 64 here"
    )

    (tmp_path / "bad.ckpt").write_bytes(b"not a checkpoint")
    out = resume(f"ckpt_path={tmp_path / 'bad.ckpt'}", status=2)
    assert out.strip().splitlines()[-1].startswith(f"error: {tmp_path / 'bad.ckpt'} is not a readable checkpoint (")
    assert not list(tmp_path.glob("logs/train/runs/*"))  # no run directory for it either

    last.write_bytes(whole[: len(whole) // 2])  # a copy cut short
    newest = ckpts / "epoch001-step0000010.ckpt"
    line = resume(f"ckpt_path={run_dir}", "trainer.max_epochs=3", status=2).strip().splitlines()[-1]
    assert line.startswith(f"error: {last} is not a readable checkpoint (")
    assert line.endswith(f"the newest that loads is {newest.name}: gan-train ckpt_path={newest}")
    last.write_bytes(whole)

    # A real limit on file size (no patched torch.save): the next checkpoint cannot be written.
    limited = {"preexec_fn": lambda: _file_size_limit(len(whole) // 2)}
    line = resume(f"ckpt_path={run_dir}", "trainer.max_epochs=3", status=1, **limited).strip().splitlines()[-1]
    assert line.startswith("error: could not write checkpoint") and line.endswith("; the previous one is kept")

    # Copied out of its run: it resumes with the overrides it keeps, in a new run directory.
    moved = tmp_path / "elsewhere" / "checkpoints" / "step10.ckpt"
    moved.parent.mkdir(parents=True)
    moved.write_bytes(whole)
    out = resume(*config_dir, f"ckpt_path={moved}", "trainer.max_epochs=3", status=0)
    assert "experiment=tiny" in restored(out)
    (new_run,) = (tmp_path / "logs" / "train" / "runs").iterdir()
    again = last_checkpoint(new_run)
    assert again["global_step"] == 15 and again["callbacks"]["RunRecord"]["config"]["data"]["batch_size"] == 32

    # It diverges: NaN in the generator's weights after its first step here (11).
    poison = ["+callbacks.poison._target_=tests.test_hardening.PoisonGenerator", "+callbacks.poison.step=11"]
    out = resume(f"ckpt_path={run_dir}", "trainer.max_epochs=3", EVERY_STEP, *poison, status=1)
    assert out.strip().splitlines()[-1] == f"error: step 12: train/d_loss is nan; stopped, {last} kept (step 10)"


def restored(out: str) -> list[str]:
    (line,) = [line for line in out.splitlines() if "Resuming as this run: " in line]
    return line.split("Resuming as this run: ")[1].split()


def finish_ok(cwd: Path, *args: str) -> str:
    """``gan-train *args`` (options first, as argparse wants them), to its end, exit 0."""
    proc = start_gan_train(cwd, *args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out = finish(proc)
    assert proc.returncode == 0, out[-3000:]
    return out
