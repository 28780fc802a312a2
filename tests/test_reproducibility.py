"""Reruns and resumes are exact in a fresh process: every kind of random draw in a step is keyed
by integers alone, so Python's per-process salt of string hashes cannot reach it. Each run here
is its own ``gan-train`` process with its own PYTHONHASHSEED, as two commands of a user are."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tests.conftest import REPO, start_gan_train

FAST = [
    "trainer.deterministic=true",
    "data.download=false",
    "callbacks.sample_quality=null",  # scoring draws nothing from the step's keys
    "logger=none",
    "trainer.enable_progress_bar=false",
    "trainer.enable_model_summary=false",
    "callbacks.last_checkpoint.every_n_steps=2",
]
# One configuration that draws every kind of random number a step has: z for two D updates
# (d_steps_per_g=2), DiffAugment of reals and fakes, WGAN-GP's mix, R1 and R2 on their lazy schedule,
# labels of a conditional run; and the state beside the weights that must come back with them:
# an EMA generator, spectral norm's power-iteration vectors, the data order across epochs
# (512 images, 2 x 64 a step: 4 steps an epoch, so the runs cross two epochs and resume
# mid-one).
EVERY_DRAW = [
    "experiment=mnist_cgan",
    "data.limit=512",
    "data.batch_size=64",
    "model.spectral_norm=true",
    "model.loss=wgan_gp",
    "model.augment=[translation,cutout,color]",
    "model.r1_gamma=1",
    "model.r2_gamma=1",
    "model.r1_every=2",
    "model.d_steps_per_g=2",
    "model.ema_decay=0.9",
]
# R3GAN's objective (the relativistic loss, whose G update reads D on the reals again, R1 and R2),
# with ADA (p moves every 4 D updates: the resume at step 5 comes mid-interval) and an EMA on its ramp-up.
R3GAN = ["experiment=mnist_r3gan32", "data.limit=1024", "data.batch_size=64", "model.r1_every=2"]
R3GAN += ["model.generator.base_width=16", "model.discriminator.base_width=16"]
R3GAN += ["model.augment_p=ada", "model.ada_kimg=1", "model.ema_decay=0.99"]
# The seeds' plain recipe resumes in new processes in test_records.py and test_resume.py.
CONFIGS = {"every-draw": EVERY_DRAW, "r3gan": R3GAN}
N = 5  # the resume starts mid-epoch, at an odd step, where R1's lazy schedule is half-way


def gan_train(cwd: Path, hash_seed: int, *overrides: str) -> subprocess.Popen:
    return start_gan_train(
        cwd,
        *FAST,
        *overrides,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env_extra={"PYTHONHASHSEED": str(hash_seed)},
    )


def finish(proc: subprocess.Popen) -> None:
    out, _ = proc.communicate(timeout=240)
    assert proc.returncode == 0, out[-3000:]


def weights(run_dir: Path) -> tuple[int, dict[str, torch.Tensor]]:
    checkpoint = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)
    return checkpoint["global_step"], checkpoint["state_dict"]


@pytest.mark.slow
@pytest.mark.parametrize("overrides", CONFIGS.values(), ids=CONFIGS.keys())
def test_reruns_and_resumes_in_new_processes_give_the_same_weights(tmp_path, overrides):
    """Three processes, each with its own string-hash salt: a straight run, and a run stopped
    half-way then resumed. Their weights agree only if the first half was rerun exactly (a rerun
    in a new process) and the second half went on exactly (a resume)."""
    straight, split = tmp_path / "straight", tmp_path / "split"
    # Two at a time: each process has one torch thread.
    runs = [
        gan_train(tmp_path, 1, *overrides, f"trainer.max_steps={2 * N}", f"hydra.run.dir={straight}"),
        gan_train(tmp_path, 2, *overrides, f"trainer.max_steps={N}", f"hydra.run.dir={split}"),
    ]
    for proc in runs:
        finish(proc)
    finish(gan_train(tmp_path, 3, f"ckpt_path={split}", f"trainer.max_steps={2 * N}"))

    step, expected = weights(straight)
    assert step == 2 * N and any(name.startswith("generator_ema.") for name in expected)
    if overrides is R3GAN:
        assert 0 < expected["ada.p"] < 1  # p moved: its draws and its state were put to the test
    other_step, other = weights(split)
    assert other_step == step and other.keys() == expected.keys()
    differ = [name for name, value in expected.items() if not torch.equal(value, other[name])]
    assert not differ, f"{len(differ)} tensors differ, e.g. {differ[:3]}"


@pytest.mark.slow
def test_step_keys_are_the_same_in_every_process():
    code = (
        "import json\nfrom gan_lightning.randomness import Draw, step_key\n"
        "print(json.dumps([step_key(3, 1, 40, update, draw) for update in (0, 1) for draw in Draw]))"
    )
    printed = {
        subprocess.run(
            [sys.executable, "-c", code],
            env={**os.environ, "PYTHONPATH": str(REPO), "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
        ).stdout
        for seed in ("1", "2")
    }
    assert len(printed) == 1 and printed != {""}, printed
    keys = json.loads(printed.pop())
    assert len(set(keys)) == len(keys) and all(0 <= key < 2**63 for key in keys)


def test_a_key_refuses_anything_but_integers():
    from gan_lightning.randomness import step_key

    with pytest.raises(TypeError, match="integers only"):
        step_key(0, 0, 1, "augment")  # type: ignore[arg-type]
