"""No lost runs, clear errors, honest failure."""

import logging
import os
import random
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest
import torch
from lightning.pytorch import Callback

import gan_lightning.plumbing.checkpoint_io as checkpoint_io
from gan_lightning.plumbing.checkpoint_io import AtomicCheckpointIO
from gan_lightning.plumbing.errors import TrainingError, UserError
from gan_lightning.train import train
from tests.conftest import Console, compose_train, run_gan_train, start_gan_train


def last_ckpt(run_dir: Path) -> dict:
    return torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)


# --- atomic checkpoints ------------------------------------------------------------------


def test_checkpoint_io_refuses_nan_weights_and_keeps_the_old_file(tmp_path):
    path = tmp_path / "last.ckpt"
    io = AtomicCheckpointIO()
    io.save_checkpoint({"global_step": 1, "state_dict": {"w": torch.ones(3)}}, path)
    before = path.read_bytes()
    with pytest.raises(TrainingError, match="step 2: w holds NaN or Inf"):
        io.save_checkpoint({"global_step": 2, "state_dict": {"w": torch.tensor([1.0, float("nan")])}}, path)
    assert path.read_bytes() == before


def test_a_full_disk_during_training_raises_and_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    # A stand-in for a full disk at the second save, in-process; the real path (a file-size limit
    # on a gan-train process) is in test_resume.py's resumes typed on the command line.
    real_save, calls = torch.save, []

    def save_then_fill_the_disk(obj, f):
        calls.append(obj["global_step"])
        if len(calls) == 1:
            return real_save(obj, f)
        f.write(b"half a checkpoint")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(checkpoint_io.torch, "save", save_then_fill_the_disk)
    cfg = compose_train(tmp_path, "trainer.max_steps=30", "callbacks.last_checkpoint.every_n_steps=10", "logger=none")
    with pytest.raises(TrainingError, match="No space left on device; the previous one is kept"):
        train(cfg)
    monkeypatch.undo()
    assert last_ckpt(tmp_path)["global_step"] == 10  # the first save, whole and loadable
    assert not list((tmp_path / "checkpoints").glob(".*.tmp"))


def gan_train(cwd: Path, *overrides: str) -> subprocess.Popen:
    return start_gan_train(cwd, "data.download=false", *overrides, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


@pytest.mark.slow
def test_killed_at_random_moments_the_run_resumes_and_finishes(tmp_path):
    run_dir, total = tmp_path / "run", 200  # the three kills come after about 0.6, 0.4 and 1 s of training
    settings = [
        f"trainer.max_steps={total}",
        "callbacks.sample_quality.num_samples=500",
        "callbacks.last_checkpoint.every_n_steps=2",  # saves all the time, so kills land mid-write
        "trainer.enable_progress_bar=false",
    ]
    rng = random.Random(7)
    last, step = run_dir / "checkpoints" / "last.ckpt", 0
    proc = gan_train(tmp_path, f"hydra.run.dir={run_dir}", *settings)
    for attempt in range(3):
        # Kill while it trains: once this process has written last.ckpt itself (every 2 steps).
        written_before = last.stat().st_mtime_ns if last.exists() else 0
        deadline = time.monotonic() + 60
        while (not last.exists() or last.stat().st_mtime_ns == written_before) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert proc.poll() is None, "it ended before it could be killed while training"
        if attempt == 0:  # one writer per run: a second command on it is refused at once
            started = time.monotonic()
            second = run_gan_train(tmp_path, f"ckpt_path={run_dir}", *settings, timeout=60)
            assert second.returncode == 2 and time.monotonic() - started < 10
            (line,) = second.stderr.strip().splitlines()
            assert line.startswith(f"error: {run_dir} is in use by pid {proc.pid} on ")
            assert not list(run_dir.glob(".hydra/resume_*"))  # it wrote nothing into the run
        time.sleep(rng.uniform(0.2, 1.5))
        proc.kill()  # SIGKILL: no handler runs, nothing is flushed, the lock is never released
        proc.wait()
        previous, step = step, last_ckpt(run_dir)["global_step"]  # loads: never half-written
        assert previous < step < total  # each attempt trained on from where the last one stopped
        proc = gan_train(tmp_path, f"ckpt_path={run_dir}", *settings)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err[-2000:]
    assert last_ckpt(run_dir)["global_step"] == total
    # Its two epochs' scores, and the mode-collapse warning exactly when the classes covered
    # fell (as they do here, from 2 to 1), read from train.log, which keeps every attempt's lines.
    log = (run_dir / "train.log").read_text()
    modes = [int(m) for m in re.findall(r"epoch \d+: val/fid .*val/modes (\d+)", log)]
    assert len(modes) == 2, modes
    warned = re.findall(r"epoch 1: val/modes fell from (\d+) to (\d+)", log)
    assert warned == ([(str(modes[0]), str(modes[1]))] if modes[1] < modes[0] else []), (modes, warned)


# --- divergence ----------------------------------------------------------------------------


class PoisonGenerator(Callback):
    """Fills the generator's weights with NaN at the end of ``step``, as a diverged update would."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_end(self, trainer, pl_module, *args) -> None:
        if trainer.global_step == self.step:
            with torch.no_grad():
                for parameter in pl_module.generator.parameters():
                    parameter.fill_(float("nan"))


POISON = ["+callbacks.poison._target_=tests.test_hardening.PoisonGenerator", "+callbacks.poison.step=10"]
EVERY_STEP = "callbacks.divergence_guard.every_n_steps=1"


def test_nan_stops_training_naming_step_and_loss_and_keeps_the_good_checkpoint(tmp_path):
    saves = "callbacks.last_checkpoint.every_n_steps=5"
    cfg = compose_train(tmp_path, "trainer.max_steps=50", saves, EVERY_STEP, *POISON)
    with pytest.raises(TrainingError, match=r"step 11: train/d_loss is nan"):
        train(cfg)
    saved = last_ckpt(tmp_path)
    assert saved["global_step"] == 10
    assert all(torch.isfinite(v).all() for v in saved["state_dict"].values() if v.is_floating_point())


def test_nan_weights_are_never_saved_even_unguarded(tmp_path):
    overrides = [
        "trainer.max_steps=50",
        "callbacks.last_checkpoint.every_n_steps=5",
        "~callbacks.divergence_guard",
    ]
    with pytest.raises(TrainingError, match="step 15: generator.* holds NaN or Inf; not saved over"):
        train(compose_train(tmp_path, *overrides, *POISON))
    assert last_ckpt(tmp_path)["global_step"] == 10


def test_a_discriminator_that_wins_outright_is_warned_about_once(tmp_path, caplog):
    # A floor of 1.0 counts every step as starved: the warning must come after `patience`.
    guard = ["callbacks.divergence_guard.d_fake_floor=1.0", "callbacks.divergence_guard.patience=5", EVERY_STEP]
    with caplog.at_level(logging.WARNING):
        train(compose_train(tmp_path, "trainer.max_steps=12", "logger=none", *guard))
    warnings = [r.getMessage() for r in caplog.records if "discriminator wins outright" in r.getMessage()]
    assert len(warnings) == 1 and warnings[0].startswith("step 5:")


def test_a_fall_in_val_modes_is_warned_about_once_per_new_low(caplog, tmp_path):
    """The guard's logic on a scripted history (a real run's fall: the kill test above), naming
    what best.ckpt keeps as the run's best_checkpoint monitors it."""
    from types import SimpleNamespace

    from gan_lightning.callbacks import BestCheckpoint, DivergenceGuard

    guard, scorer = DivergenceGuard(), SimpleNamespace(scored_epoch=None)
    best = BestCheckpoint(dirpath=tmp_path, filename="best", monitor="val/modes_confident", mode="max")
    trainer = SimpleNamespace(callback_metrics={}, callbacks=[scorer, best])
    with caplog.at_level(logging.WARNING):
        for epoch, modes in enumerate([8, 10, 10, 7, 7, 9, 6]):
            scorer.scored_epoch, trainer.callback_metrics = epoch, {"val/modes": torch.tensor(float(modes))}
            guard.on_train_epoch_start(trainer, None)
    warnings = [r.getMessage() for r in caplog.records if "val/modes fell" in r.getMessage()]
    assert warnings == [
        "epoch 3: val/modes fell from 10 to 7: the samples cover fewer classes than they did (mode collapse); "
        "best.ckpt keeps the best val/modes_confident so far",
        "epoch 6: val/modes fell from 10 to 6: the samples cover fewer classes than they did (mode collapse); "
        "best.ckpt keeps the best val/modes_confident so far",
    ]
    # Resumed from a checkpoint, a guard goes on from the run's history: 6 is no new low, 5 is.
    # This run keeps no best.ckpt (callbacks.best_checkpoint=null): the warning names none.
    resumed = DivergenceGuard()
    resumed.load_state_dict(guard.state_dict())
    trainer.callbacks = [scorer]
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        for epoch, modes in [(7, 6), (8, 5)]:
            scorer.scored_epoch, trainer.callback_metrics = epoch, {"val/modes": torch.tensor(float(modes))}
            resumed.on_train_epoch_start(trainer, None)
    assert [r.getMessage() for r in caplog.records] == [
        "epoch 8: val/modes fell from 10 to 5: the samples cover fewer classes than they did (mode collapse)"
    ]


# --- bad configuration -------------------------------------------------------------------


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory) -> Path:
    run_dir = tmp_path_factory.mktemp("finished")
    train(compose_train(run_dir, "trainer.max_steps=10", "logger=none"))
    return run_dir


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["model.latent_dim=64"], "model.latent_dim=100 there, 64 here"),
        (["data.image_size=32"], "model.discriminator.image_size=28 there, 32 here"),
        (["experiment=mnist_dcgan32"], "model.generator._target_=gan_lightning.models.MLPGenerator there"),
        (["model.ema_decay=null"], "model.ema_decay=0.999 there, None here"),
        (["model.augment_p=ada"], "model.augment_p=None there, ada here"),  # ADA's p is state to resume
    ],
)
def test_a_checkpoint_of_other_networks_is_refused_naming_the_mismatch(tmp_path, finished_run, overrides, message):
    with pytest.raises(UserError, match=message) as refused:
        train(compose_train(tmp_path, f"ckpt_path={finished_run}", "trainer.max_steps=20", *overrides))
    assert "generator.latent_dim" not in str(refused.value)  # it follows model.latent_dim: named once


def test_a_dcgan_checkpoint_written_before_batch_norm_was_a_key_resumes(tmp_path):
    from gan_lightning.run.records import stored_config

    small = ["experiment=mnist_dcgan32", "model.generator.base_width=8", "model.discriminator.base_width=8"]
    small += ["data.batch_size=16", "logger=none", "~callbacks.sample_quality", "~callbacks.best_checkpoint"]
    train(compose_train(tmp_path, *small, "trainer.max_steps=2"))
    path = tmp_path / "checkpoints" / "last.ckpt"
    checkpoint = torch.load(path, weights_only=True)
    del checkpoint["hyper_parameters"]["discriminator"]["batch_norm"]  # as the earlier version wrote it
    del stored_config(checkpoint)["model"]["discriminator"]["batch_norm"]
    torch.save(checkpoint, path)
    train(compose_train(tmp_path, *small, f"ckpt_path={tmp_path}", "trainer.max_steps=4"))
    assert torch.load(path, weights_only=True)["global_step"] == 4


@pytest.mark.slow
def test_a_slurm_job_sent_its_requeue_signal_saves_requeues_and_resumes_itself(tmp_path):
    """SLURM sends SIGUSR1 (#SBATCH --signal=SIGUSR1@90) before a job's time runs out, here from
    another process while the job trains: it stops after the iteration, saves last.ckpt,
    requeues its job, and the job, started again with the same command, resumes from there."""
    # A stand-in scontrol that records its arguments: no SLURM cluster exists here.
    scontrol = tmp_path / "bin" / "scontrol"
    scontrol.parent.mkdir()
    scontrol.write_text(f'#!/bin/sh\necho "$@" >> {tmp_path / "scontrol.log"}\n')
    scontrol.chmod(0o755)
    job = {"PATH": f"{scontrol.parent}:{os.environ['PATH']}", "SLURM_JOB_ID": "4242", "SLURM_JOB_NAME": "gan"}
    job |= {"SLURM_NTASKS": "1", "SLURM_PROCID": "0", "SLURM_LOCALID": "0", "SLURM_NODEID": "0"}
    job |= {"SLURM_NODELIST": "localhost"}
    run_dir = tmp_path / "logs" / "train" / "runs" / "slurm-4242"
    command = ["data.download=false", "trainer.max_steps=60", "logger=none", "trainer.enable_progress_bar=false"]
    command += ["callbacks.sample_quality.num_samples=500", "callbacks.last_checkpoint.every_n_steps=2"]
    pipes = {"stdout": subprocess.PIPE, "stderr": subprocess.STDOUT}
    proc = start_gan_train(tmp_path, *command, env_extra=job, **pipes)
    wait_for_a_checkpoint(proc, run_dir / "checkpoints" / "last.ckpt")
    proc.send_signal(signal.SIGUSR1)
    out = proc.communicate(timeout=120)[0]
    assert proc.returncode == 128 + signal.SIGUSR1, out[-2000:]
    step = last_ckpt(run_dir)["global_step"]
    assert out.strip().splitlines()[-1] == f"SIGUSR1 at step {step}; last.ckpt saved. Requeued SLURM job 4242"
    assert (tmp_path / "scontrol.log").read_text() == "requeue 4242\n" and 0 < step < 60

    again = start_gan_train(tmp_path, *command, env_extra=job, **pipes)  # the requeued job
    out = again.communicate(timeout=120)[0]
    assert again.returncode == 0, out[-2000:]
    assert "SLURM job 4242 started again: resuming from its last.ckpt" in out
    assert last_ckpt(run_dir)["global_step"] == 60


# --- resume edge cases ---------------------------------------------------------------------


def test_resuming_with_changed_settings_names_them_and_applies_them(tmp_path, caplog):
    run_dir = tmp_path / "run"
    train(compose_train(run_dir, "trainer.max_steps=10", "logger=none"))
    with caplog.at_level(logging.WARNING):
        train(compose_train(run_dir, f"ckpt_path={run_dir}", "trainer.max_steps=15", "model.g_optimizer.lr=1e-4"))
    (warning,) = [r.getMessage() for r in caplog.records if "differ from the run's own" in r.getMessage()]
    assert "model.g_optimizer.lr 0.0002 -> 0.0001" in warning and "trainer.max_steps 10 -> 15" in warning
    assert "ckpt_path" not in warning and "data.batch_size" not in warning  # only what changed
    groups = last_ckpt(run_dir)["optimizer_states"][0]["param_groups"]
    assert groups[0]["lr"] == 1e-4


# --- bad data ------------------------------------------------------------------------------


def test_unreadable_and_truncated_mnist_files_get_one_line(tmp_path, monkeypatch):
    raw = tmp_path / "data" / "MNIST" / "raw"
    raw.mkdir(parents=True)
    (raw / "train-images-idx3-ubyte").write_bytes(b"\0\0\x08\x03" + (100).to_bytes(4, "big") * 3 + b"short")
    with pytest.raises(UserError, match="train-images-idx3-ubyte: truncated, expected 100 images"):
        train(compose_train(tmp_path))
    (raw / "train-images-idx3-ubyte").write_bytes(b"x" * 100)
    real_open = open

    def no_permission(path, *args, **kwargs):
        if str(path).endswith("-ubyte"):
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr("builtins.open", no_permission)
    with pytest.raises(UserError, match="cannot be read .PermissionError"):
        train(compose_train(tmp_path))
    assert not (tmp_path / "checkpoints").exists()  # nothing half-written


@pytest.mark.slow
def test_an_unreadable_image_is_skipped_and_named(tmp_path, monkeypatch, caplog):
    from PIL import Image

    from tests.test_image_folder import make_folder

    make_folder(tmp_path / "faces")
    real_open = Image.open

    def locked(path, *args, **kwargs):
        if Path(path).name == "img001.webp":
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(Image, "open", locked)
    overrides = [
        "data=image_folder",
        f"data.root={tmp_path / 'faces'}",
        "data.num_workers=0",
        "data.image_size=32",
    ]
    with caplog.at_level(logging.WARNING):
        train(compose_train(tmp_path, *overrides, "data.batch_size=4", "model=dcgan", "debug=fdr"))
    (warning,) = [r.getMessage() for r in caplog.records if "Skipped" in r.getMessage()]
    assert "Skipped 3 of 14 images" in warning


# --- from outside the process, as a user or a scheduler meets it --------------------------


def wait_for_a_checkpoint(proc: subprocess.Popen, last: Path, timeout: float = 90) -> None:
    """Wait until the run has saved last.ckpt while training."""
    deadline = time.monotonic() + timeout
    while not last.exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert proc.poll() is None and last.exists(), "it never saved while training"
    time.sleep(0.2)  # the file is renamed into place whole; let the step after it start


def test_a_second_ctrl_c_from_the_terminal_stops_at_once_without_saving(tmp_path):
    """The first Ctrl-C, during set-up, would stop the run once set-up ends (seconds: Lightning
    is still to be imported); the second, sent once the first is acknowledged, stops it at
    once: Lightning never loaded, the new run's directory removed. (A second signal raises the
    same way mid-training; the test below makes it land while the first is being logged.)"""
    run = Console(tmp_path, "data.download=false", "logger=none")
    run.wait_for("Run directory:")
    run.proc.send_signal(signal.SIGINT)
    run.wait_for("SIGINT: stopping once set-up ends, before training (Ctrl-C again stops at once)")
    run.proc.send_signal(signal.SIGINT)
    status, lines = run.finish(timeout=60)
    assert status == 130, lines[-20:]
    assert lines[-1] == "SIGINT again: stopped at once, nothing saved"
    assert not any("Traceback" in line or "Seed set" in line for line in lines)  # before Lightning's set-up
    assert not list(tmp_path.glob("logs/train/runs/*"))


def test_a_second_signal_while_the_first_is_being_logged_still_stops_at_once(tmp_path):
    """The moment the process test above can hit by chance, made certain: the second Ctrl-C lands
    while the first's warning is being written, where logging swallows any Exception."""
    from gan_lightning.plumbing.errors import Aborted
    from gan_lightning.run.signals import Signals

    class SecondCtrlCWhileWriting(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            try:
                os.kill(os.getpid(), signal.SIGINT)
                time.sleep(0.1)  # the handler runs here, inside this write
            except Exception:  # what logging's handlers do with an error while writing
                self.handleError(record)

    signals, handler = Signals(), SecondCtrlCWhileWriting()
    signals.training_started = True
    logging.getLogger("gan_lightning.run.signals").addHandler(handler)
    signals.install()
    try:
        with pytest.raises(Aborted, match="SIGINT again: stopped at once, nothing saved") as aborted:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.5)
    finally:
        signals.restore()
        logging.getLogger("gan_lightning.run.signals").removeHandler(handler)
    assert aborted.value.exit_code == 130


def _file_size_limit(limit: int) -> None:
    """In the child: files may grow to ``limit`` bytes, as on a disk that has that much left
    (writes beyond it fail with EFBIG, instead of the process being killed)."""
    import resource

    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
