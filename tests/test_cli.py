"""The command a user types: clear one-line errors, and DDP on the CPU."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from tests.conftest import REPO, SUBSET, run_gan_train


def gan_train(cwd: Path, *overrides: str) -> subprocess.CompletedProcess:
    return run_gan_train(cwd, *overrides, timeout=180)


OFFLINE = "data.download=false"
# What the console must not carry: Lightning's advertisements, its lines printed twice (its own
# "INFO: " handler beside Hydra's), DDP's epoch-level logging warnings, Optuna's SQL set-up.
NOISE = ["Tip:", "litlogger", "INFO: ", "sync_dist", "[HYDRA] setup plugin", "could not find the monitored key"]
# Each bad input: what is typed, the exit status, the start of the one line, and the seconds it
# may take. EARLY rows answer from the config and the file system alone, before torch or
# Lightning is imported (well under a second alone on a 2-core CPU; the bound, 3 s, leaves room
# for a loaded machine, and the import check below is exact). The others need torch or Lightning.
EARLY, LATE = 3, 60
BAD_INPUT = {
    "unknown-loss": (["model.loss=foo"], 2, "error: model.loss=foo: not a loss here; the losses are bce", EARLY),
    "unknown-augment": (["model.augment=[blur]"], 2, "error: model.augment=['blur']: unknown augmentation", EARLY),
    "dcgan-size": (["experiment=mnist_dcgan32", "data.image_size=17"], 2, "error: data.image_size=17: DCGAN", EARLY),
    "dcgan-size-64": (["experiment=mnist_dcgan", "data.image_size=48"], 2, "error: data.image_size=48: DCGAN", EARLY),
    "no-latent": (["model.latent_dim=0"], 2, "error: model.latent_dim=0: must be an integer, at least 1", EARLY),
    "ema-above-one": (["model.ema_decay=1.5"], 2, "error: model.ema_decay=1.5: must be in (0, 1)", EARLY),
    # BatchNorm is found in the networks once built, a project's own included.
    "batch-of-one": (["data.batch_size=1", OFFLINE], 2, "error: data.batch_size=1: BatchNorm in training needs", LATE),
    "batch-of-zero": (["data.batch_size=0"], 2, "error: data.batch_size=0: must be an integer, at least 1", EARLY),
    "precision": (["trainer.precision=7"], 2, "error: trainer.precision=7: not one of Lightning's", EARLY),
    "negative-epochs": (["trainer.max_epochs=-5"], 2, "error: trainer.max_epochs=-5: must be an integer, at", EARLY),
    "pack": (
        ["model.pack=3"],
        2,
        "error: model.pack=3: must be an integer, at least 1, that divides data.batch",
        EARLY,
    ),
    "minibatch-std": (
        ["experiment=mnist_dcgan32", "model.pack=2", "model.discriminator.minibatch_std=3"],
        2,
        "error: model.discriminator.minibatch_std=3: must be an integer, at least 0 (0: off), that divides the 64",
        EARLY,
    ),
    "max-time": (["trainer.max_time=30min"], 2, 'error: trainer.max_time=30min: a time budget as "DD:HH', EARLY),
    "negative-steps": (["trainer.max_steps=-2"], 2, "error: trainer.max_steps=-2: must be an integer, at", EARLY),
    "lr": (["model.g_optimizer.lr=-1"], 2, "error: model.g_optimizer.lr=-1: must be positive", EARLY),
    "betas": (
        ["model.d_optimizer.betas=[0.5,1.0]"],
        2,
        "error: model.d_optimizer.betas=[0.5, 1.0]: two numbers",
        EARLY,
    ),
    "seed": (["seed=null"], 2, "error: seed=None: must be an integer", EARLY),
    "gp-weight": (["model.gp_weight=-1"], 2, "error: model.gp_weight=-1: must be a number, not negative", EARLY),
    "grid-interval": (["callbacks.fixed_noise_grid.every_n_steps=0"], 2, "error: callbacks.fixed_noise_grid", EARLY),
    "unknown-metric": (["callbacks.sample_quality.metrics=[fdi]"], 2, "error: callbacks.sample_quality.metr", EARLY),
    "few-samples": (["callbacks.sample_quality.num_samples=1"], 2, "error: callbacks.sample_quality.num_", EARLY),
    "inception-bf16": (
        ["callbacks.sample_quality.inception_bf16=fast"],
        2,
        "error: callbacks.sample_quality.ince",
        EARLY,
    ),
    "few-cpu-samples": (
        ["callbacks.sample_quality.cpu_inception_samples=1"],
        2,
        "error: callbacks.sample_quality.cpu",
        EARLY,
    ),
    "run-dir": (["hydra.run.dir=/proc/no/such"], 2, "error: cannot create the run directory: /proc/no", EARLY),
    "missing-folder": (["experiment=celeba_dcgan", "data.root=nowhere"], 2, "error: data.root=nowhere: no such", EARLY),
    "no-folder-given": (["experiment=celeba_dcgan"], 2, "error: data.root is not set", EARLY),
    "typed-root-offline": (["data.root=nowhere", OFFLINE], 2, "error: MNIST not found under nowhere/MNIST/raw", EARLY),
    "mistyped-key": (["model.g_optimiser.lr=1e-4"], 2, "error: Could not override 'model.g_optimiser.lr'", EARLY),
    "unknown-experiment": (["experiment=mnist_gann"], 2, "error: In 'train': Could not find 'experiment/mnist_", EARLY),
    "bad-checkpoint": (["ckpt_path=no/such/run", OFFLINE], 2, "error: ckpt_path=no/such/run: no checkpoint at", EARLY),
    "no-fashion-mnist": (["experiment=fashion_dcgan", OFFLINE], 2, "error: FashionMNIST not found under data/", EARLY),
    "syncbn-cpu": (["trainer=ddp_cpu", "trainer.sync_batchnorm=true", OFFLINE], 2, "error: trainer.sync_batch", EARLY),
    "oversized-batch": (["data.batch_size=100000", OFFLINE], 2, "error: data.batch_size=100000: larger than", LATE),
    # The neighbours of the options tests/test_options.py trains, each a typo a user makes.
    "features": (
        ["callbacks.sample_quality.features=inceptoin"],
        2,
        "error: callbacks.sample_quality.features=",
        EARLY,
    ),
    "features-file": (["callbacks.sample_quality.features=no/mnist.pt"], 2, "error: callbacks.sample_quality.f", EARLY),
    "inception-file": (["callbacks.sample_quality.inception_weights=no.pt"], 2, "error: callbacks.sample_qual", EARLY),
    "monitor-unscored": (["callbacks.sample_quality.metrics=[modes]"], 2, "error: callbacks.best_checkpoint.m", EARLY),
    "scoring-interval": (["callbacks.sample_quality.every_n_epochs=-1"], 2, "error: callbacks.sample_quality.e", EARLY),
    "augment-p": (["model.augment_p=adaa"], 2, "error: model.augment_p=adaa: a probability in [0, 1], ada", EARLY),
    "precision-name": (["trainer.precision=bf15-mixed"], 2, "error: trainer.precision=bf15-mixed: not one", EARLY),
    "accelerator": (["trainer.accelerator=cpx"], 2, "error: trainer.accelerator=cpx: not one of Lightning's", EARLY),
    "trainer": (["trainer=cpuu"], 2, "error: In 'train': Could not find 'trainer/cpuu'", EARLY),
    "logger": (["logger=tensorbord"], 2, "error: In 'train': Could not find 'logger/tensorbord'", EARLY),
    "data": (["data=mnst"], 2, "error: In 'train': Could not find 'data/mnst'", EARLY),
    "network-module": (["model.generator._target_=mypkg.G"], 2, "error: model.generator._target_=mypkg.G: no", EARLY),
    "sweep-objective": (
        ["-m", "model.loss=bce,hinge", "optimized_metric=val/fdi"],
        2,
        "error: optimized_metric",
        EARLY,
    ),
    "sweep-unscored": (["-m", "seed=0,1", "callbacks.sample_quality.metrics=[]"], 2, "error: optimized_metric", EARLY),
    "network-class": (["model.generator._target_=gan_lightning.models.MLPGenerater"], 2, "error: model.gene", EARLY),
}
if not torch.cuda.is_available():
    BAD_INPUT["no-gpu"] = (["trainer=gpu"], 2, "error: trainer.accelerator=gpu: no GPU here", LATE)


# gan-train's entry point, reporting at its exit what it had imported.
ENTRY = (
    "import sys\nfrom gan_lightning.train import main\ncode = 0\n"
    "try:\n    main()\nexcept SystemExit as exit:\n    code = exit.code or 0\n"
    "print('exit', code, 'lightning' in sys.modules, 'torch' in sys.modules)\nsys.exit(code)"
)


def gan_train_reporting_imports(cwd: Path, *args: str) -> tuple[subprocess.CompletedProcess, bool]:
    """gan-train's entry point with ``args``; and whether it imported torch or Lightning."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    command = [sys.executable, "-c", ENTRY, *args]
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=180)
    report = result.stdout.strip().splitlines()[-1].split()
    assert report[:2] == ["exit", str(result.returncode)], result.stdout
    return result, report[2:] != ["False", "False"]


@pytest.mark.parametrize(
    "overrides, status, words, seconds",
    [pytest.param(*row, marks=[pytest.mark.slow] if row[3] == LATE else []) for row in BAD_INPUT.values()],
    ids=BAD_INPUT.keys(),
)
def test_bad_input_gets_one_clear_line_in_time_and_leaves_nothing(tmp_path, overrides, status, words, seconds):
    started = time.monotonic()
    flags = [o for o in overrides if o.startswith("-")]  # -m before the overrides, as argparse needs
    rest = [o for o in overrides if not o.startswith("-")]
    result, heavy_imports = gan_train_reporting_imports(tmp_path, *flags, "debug=fdr", SUBSET, *rest)
    took = time.monotonic() - started
    assert result.returncode == status, result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith(words), result.stderr
    assert "Traceback" not in result.stderr and "unexpected" not in result.stderr
    assert took < seconds, f"answered in {took:.1f} s"
    # EARLY: answered from the config and the file system alone, before torch or Lightning.
    assert heavy_imports == (seconds == LATE)
    assert not list(tmp_path.glob("logs/train/*/*")) and not (tmp_path / "nowhere").exists()


def test_printing_the_config_imports_neither_torch_nor_lightning(tmp_path):
    result, heavy_imports = gan_train_reporting_imports(tmp_path, "--cfg", "job")
    assert result.returncode == 0 and "model:" in result.stdout and not heavy_imports
    assert not list(tmp_path.glob("logs/train/runs/*"))


# The other commands' bad input, each as the process a user starts: exit 2 and one line.
OTHER_COMMANDS = {
    "sample-no-run": (["gan_lightning.sample", "no/such/run", "grid"], "error: no/such/run: no checkpoint at"),
    "sample-no-args": (["gan_lightning.sample"], "error: the following arguments are required: target, mode"),
    "sample-bad-mode": (["gan_lightning.sample", "run", "gird"], "error: argument mode: invalid choice: 'gird'"),
    "eval-no-run": (["gan_lightning.evaluate", "no/such/run"], "error: no/such/run: no checkpoint at"),
    "eval-bad-count": (["gan_lightning.evaluate", "run", "--num-samples", "many"], "error: argument --num-samples"),
    "summary-no-folder": (["gan_lightning.sweep.summary", "no/such/sweep"], "error: no/such/sweep: no such folder"),
    "summary-no-runs": (["gan_lightning.sweep.summary", "."], "error: .: no run of a sweep in it"),
}


@pytest.mark.parametrize("args, words", OTHER_COMMANDS.values(), ids=OTHER_COMMANDS.keys())
def test_the_other_commands_answer_bad_input_in_one_line(tmp_path, args, words):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    result = subprocess.run([sys.executable, "-m", *args], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert result.returncode == 2, result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(words), line


@pytest.mark.slow
def test_two_devices_train_as_ddp_stop_on_sigterm_together_and_resume_to_trainer_ddp_cpus_weights(tmp_path):
    # trainer.devices=2 on the default trainer=cpu, as in any Lightning project: DDP with this
    # template's settings. A conditional run: each rank's share of the data carries its labels.
    # Only rank 0 gets the SIGTERM; rank 1 must stop at the same iteration, or DDP would hang.
    sigterm = ["+callbacks.sigterm._target_=tests.test_resume.SignalAt", "+callbacks.sigterm.step=8"]
    sigterm += [f"+callbacks.sigterm.signum={int(signal.SIGTERM)}", "+callbacks.sigterm.rank=0"]

    # With ADA, whose r_t is averaged over the ranks: both hold the same p at every step.
    def ada(records: Path) -> list[str]:
        settings = ["model.augment_p=ada", "model.ada_kimg=1", "+callbacks.record_p._target_=tests.test_ada.RecordP"]
        return [*settings, f"+callbacks.record_p.dirpath={records}"]

    result = gan_train(
        tmp_path, "trainer.devices=2", "experiment=mnist_cgan", "debug=limit", OFFLINE, *sigterm, *ada(tmp_path)
    )
    assert result.returncode == 143, result.stderr[-3000:]
    ranks = [(tmp_path / f"p_rank{rank}.txt").read_text().splitlines() for rank in (0, 1)]
    assert ranks[0] == ranks[1] and len(ranks[0]) == 9, ranks
    assert float(ranks[0][-1].split()[1]) > 0  # p moved (after steps 4 and 8)
    console = result.stderr + result.stdout
    assert "Starting with 2 processes" in console
    for noise in NOISE:
        assert noise not in console, noise
    (run_dir,) = (tmp_path / "logs" / "train" / "runs").iterdir()  # both ranks share one run directory
    # Sent at the end of step 8, after the run looked for signals: step 9 was under way.
    assert torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)["global_step"] == 9
    printed = result.stderr.strip().splitlines()[-1]
    assert printed.endswith(f"Resume with: gan-train ckpt_path={run_dir}")

    # The run's own settings come back (2 devices, the experiment, debug=limit): only the limit is typed.
    result = gan_train(tmp_path, f"ckpt_path={run_dir}", "trainer.max_steps=12")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Starting with 2 processes" in result.stderr + result.stdout
    assert list((tmp_path / "logs" / "train" / "runs").iterdir()) == [run_dir]
    ckpt = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)
    assert ckpt["global_step"] == 12
    assert ckpt["loops"]["fit_loop"]["state_dict"]["combined_loader"] == [{"epoch": 0, "consumed": 12}]
    result = json.loads((run_dir / "result.json").read_text())
    assert result["status"] == "ok" and result["metrics"]["iterations"] == 12 and "val/class_acc" in result["metrics"]

    # An unbroken trainer=ddp_cpu run to the same step: the same DDP, and the stop on one rank and
    # the resume lost nothing.
    straight = tmp_path / "straight"
    run = ["trainer=ddp_cpu", "experiment=mnist_cgan", "debug=limit", OFFLINE, *ada(straight), "trainer.max_steps=12"]
    result = gan_train(tmp_path, f"hydra.run.dir={straight}", *run)
    assert result.returncode == 0, result.stderr[-3000:]
    expected = torch.load(straight / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
    assert expected.keys() == ckpt["state_dict"].keys() and expected["ada.p"] > 0  # p moved
    differ = [name for name, value in expected.items() if not torch.equal(value, ckpt["state_dict"][name])]
    assert not differ, f"{len(differ)} tensors differ, e.g. {differ[:3]}"
