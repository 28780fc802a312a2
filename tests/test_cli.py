"""The command a user types: clear one-line errors, and DDP on the CPU."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tests.conftest import REPO, run_gan_train


def gan_train(cwd: Path, *overrides: str) -> subprocess.CompletedProcess:
    return run_gan_train(cwd, *overrides, timeout=180)


OFFLINE = "data.download=false"
# What the console must not carry: Lightning's advertisements, its lines printed twice (its own
# "INFO: " handler beside Hydra's), DDP's epoch-level logging warnings, Optuna's SQL set-up.
NOISE = ["Tip:", "litlogger", "INFO: ", "sync_dist", "[HYDRA] setup plugin", "could not find the monitored key"]
BAD_INPUT = {
    "missing-folder": (["experiment=celeba_dcgan", "data.root=nowhere"], "error: data.root=nowhere: no such"),
    "no-folder-given": (["experiment=celeba_dcgan"], "error: data.root is not set"),
    "bad-size": (["experiment=mnist_dcgan", "data.image_size=48", OFFLINE], "error: image_size=48: DCGAN"),
    "bad-checkpoint": (["ckpt_path=no/such/run", OFFLINE], "error: ckpt_path=no/such/run: no checkpoint at"),
    "no-fashion-mnist": (["experiment=fashion_dcgan", OFFLINE], "error: FashionMNIST not found under data/"),
    "syncbn-cpu": (["trainer=ddp_cpu", "trainer.sync_batchnorm=true", OFFLINE], "error: trainer.sync_batch"),
    "typo-in-root": (["data.root=nonexistnt"], "error: MNIST not found under nonexistnt/MNIST/raw and the download"),
    "oversized-batch": (["data.batch_size=100000", OFFLINE], "error: data.batch_size=100000: larger than the data"),
    "mistyped-key": (["model.g_optimiser.lr=1e-4"], "error: Could not override 'model.g_optimiser.lr'"),
    "bad-value": (["model.g_optimizer.lr=-1"], "error: model.g_optimizer.lr=-1: must be positive"),
    "unknown-experiment": (["experiment=mnist_gann"], "error: In 'train': Could not find 'experiment/mnist_gann'"),
}
if not torch.cuda.is_available():
    BAD_INPUT["no-gpu"] = (["trainer=gpu"], "error: trainer.accelerator=gpu: no GPU here")


@pytest.mark.parametrize("overrides, message", BAD_INPUT.values(), ids=BAD_INPUT.keys())
def test_bad_input_gets_one_clear_line_and_leaves_nothing(tmp_path, overrides, message):
    result = gan_train(tmp_path, "debug=fdr", *overrides)
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith(message)
    assert "Traceback" not in result.stderr
    assert not list(tmp_path.glob("logs/train/runs/*")) and not (tmp_path / "nonexistnt").exists()


# Answered from the config and the file system alone, before torch or Lightning is imported.
EARLY_ANSWERS = {
    "bad-value": ["model.g_optimizer.lr=-1"],
    "missing-folder": ["experiment=celeba_dcgan", "data.root=nowhere"],
    "typed-root-offline": ["data.root=nowhere", OFFLINE],
    "cfg-job": ["--cfg", "job"],
}


@pytest.mark.parametrize("args", EARLY_ANSWERS.values(), ids=EARLY_ANSWERS.keys())
def test_questions_and_bad_input_answer_before_lightning_is_imported(tmp_path, args):
    code = (
        "import sys\nfrom gan_lightning.train import main\ncode = 0\n"
        "try:\n    main()\nexcept SystemExit as exit:\n    code = exit.code\n"
        "print('exit', code or 0, 'lightning' in sys.modules, 'torch' in sys.modules)"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    result = subprocess.run([sys.executable, "-c", code, *args], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert result.stdout.strip().splitlines()[-1] in ("exit 0 False False", "exit 2 False False"), result.stderr
    assert not list(tmp_path.glob("logs/train/runs/*"))


@pytest.mark.slow
def test_two_process_ddp_on_cpu_stops_on_sigterm_together_and_resumes(tmp_path):
    # A conditional run: each rank's share of the data carries its labels. Only rank 0 gets
    # the SIGTERM; rank 1 must stop at the same iteration, or DDP would hang.
    sigterm = ["+callbacks.sigterm._target_=tests.test_resume.SignalAt", "+callbacks.sigterm.step=8"]
    sigterm += [f"+callbacks.sigterm.signum={int(signal.SIGTERM)}", "+callbacks.sigterm.rank=0"]
    result = gan_train(tmp_path, "trainer=ddp_cpu", "experiment=mnist_cgan", "debug=limit", OFFLINE, *sigterm)
    assert result.returncode == 143, result.stderr[-3000:]
    console = result.stderr + result.stdout
    assert "Starting with 2 processes" in console
    for noise in NOISE:
        assert noise not in console, noise
    (run_dir,) = (tmp_path / "logs" / "train" / "runs").iterdir()  # both ranks share one run directory
    # Sent at the end of step 8, after the run looked for signals: step 9 was under way.
    assert torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)["global_step"] == 9
    printed = result.stderr.strip().splitlines()[-1]
    assert printed.endswith(f"Resume with: gan-train ckpt_path={run_dir}")

    # The run's own settings come back (DDP, the experiment, debug=limit): only the limit is typed.
    result = gan_train(tmp_path, f"ckpt_path={run_dir}", "trainer.max_steps=12")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Starting with 2 processes" in result.stderr + result.stdout
    assert list((tmp_path / "logs" / "train" / "runs").iterdir()) == [run_dir]
    ckpt = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)
    assert ckpt["global_step"] == 12
    assert ckpt["loops"]["fit_loop"]["state_dict"]["combined_loader"] == [{"epoch": 0, "consumed": 12}]
    assert 0 <= json.loads((run_dir / "result.json").read_text())["metrics"]["val/class_acc"] <= 1
