"""Losses, penalties and augmentation: each trains, resumes exactly, and computes what it claims."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from lightning.pytorch import Callback
from torch import nn

from gan_lightning.losses import get_loss, gradient_penalty, r1_penalty
from gan_lightning.plumbing.errors import UserError
from gan_lightning.train import train
from tests.conftest import compose_train

QUIET = ["logger=none", "~callbacks.sample_quality", "~callbacks.best_checkpoint", "trainer.deterministic=true"]
KNOBS = {
    "bce": [],
    # bce_saturating, hinge and lsgan are stateless functions of D's outputs, with no draw of
    # their own: test_what_each_loss_reports checks them; resuming them would repeat bce.
    "spectral_norm": ["model.spectral_norm=true"],
    # WGAN-GP, R1, augmentation, 2 D updates a step and a conditional D resume exactly across
    # processes: tests/test_reproducibility.py, all in one run.
}


def last(run: Path) -> dict:
    return torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)


@pytest.mark.parametrize("overrides", KNOBS.values(), ids=KNOBS.keys())
def test_every_knob_trains_and_resumes_with_identical_weights(tmp_path, overrides):
    common = [*QUIET, *overrides, "data.batch_size=32"]
    metrics = train(compose_train(tmp_path / "straight", *common, "trainer.max_steps=6"))
    assert all(math.isfinite(metrics[k]) for k in ("train/d_loss", "train/g_loss", "train/d_real", "train/d_fake"))
    train(compose_train(tmp_path / "split", *common, "trainer.max_steps=3"))
    train(compose_train(tmp_path / "split", *common, "trainer.max_steps=6", f"ckpt_path={tmp_path / 'split'}"))
    straight, resumed = last(tmp_path / "straight"), last(tmp_path / "split")
    assert resumed["global_step"] == straight["global_step"] == 6
    assert straight["state_dict"].keys() == resumed["state_dict"].keys()
    for name, value in straight["state_dict"].items():
        assert torch.equal(value, resumed["state_dict"][name]), name


@pytest.mark.slow
def test_what_each_loss_reports(tmp_path):
    bce = train(compose_train(tmp_path / "bce", *QUIET, "trainer.max_steps=3"))
    assert 0 < bce["train/d_fake"] < 1 and "train/equilibrium_gap" in bce  # probabilities; ln 2 is defined
    gap = abs(bce["train/d_loss"] - math.log(2)) + abs(bce["train/g_loss"] - math.log(2))
    assert bce["train/equilibrium_gap"] == pytest.approx(gap, rel=1e-5)
    wgan = train(compose_train(tmp_path / "wgan", *QUIET, "model.loss=wgan_gp", "trainer.max_steps=3"))
    assert "train/equilibrium_gap" not in wgan and wgan["train/gp"] > 0  # raw critic scores, no equilibrium
    r1 = train(compose_train(tmp_path / "r1", *QUIET, "model.r1_gamma=1", "trainer.max_steps=3"))
    assert r1["train/r1"] > 0 and "train/r2" not in r1
    r3 = train(compose_train(tmp_path / "r3", *QUIET, "experiment=mnist_r3gan32", "trainer.max_steps=3"))
    assert r3["train/r1"] > 0 and r3["train/r2"] > 0  # raw scores; where D cannot tell, ln 2 each
    gap = abs(r3["train/d_loss"] - math.log(2)) + abs(r3["train/g_loss"] - math.log(2))
    assert r3["train/equilibrium_gap"] == pytest.approx(gap, rel=1e-5)


def test_rpgan_pairs_each_real_with_its_fake_as_the_formula_says():
    real, fake = torch.tensor([2.0, -1.0, 0.5]), torch.tensor([1.0, 3.0, 0.5])
    rpgan = get_loss("rpgan")
    by_hand = [math.log1p(math.exp(f - r)) for r, f in zip(real.tolist(), fake.tolist(), strict=True)]
    assert rpgan.discriminator(real, fake).item() == pytest.approx(sum(by_hand) / 3, rel=1e-6)
    by_hand = [math.log1p(math.exp(r - f)) for r, f in zip(real.tolist(), fake.tolist(), strict=True)]
    assert rpgan.generator(fake, real).item() == pytest.approx(sum(by_hand) / 3, rel=1e-6)
    # Paired, not averaged: the same outputs in another order pair differently.
    assert rpgan.discriminator(real, fake.flip(0)).item() != pytest.approx(rpgan.discriminator(real, fake).item())


def test_an_unknown_loss_is_named_with_the_ones_there_are(tmp_path):
    with pytest.raises(UserError, match="model.loss=hnge: not a loss here; the losses are bce, bce_saturating"):
        train(compose_train(tmp_path, *QUIET, "model.loss=hnge", "trainer.max_steps=1"))


class Tiny(nn.Module):
    """A small nonlinear discriminator on 2x3x3 images."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(18, 7), nn.Tanh(), nn.Linear(7, 1))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(images).view(-1)


def per_sample_gradients(network: nn.Module, images: torch.Tensor) -> torch.Tensor:
    """d D(x_i) / d x_i, one autograd call per sample: the direct computation."""
    grads = []
    for image in images:
        x = image.unsqueeze(0).clone().requires_grad_(True)
        (grad,) = torch.autograd.grad(network(x).sum(), x)
        grads.append(grad.flatten())
    return torch.stack(grads)


def test_gradient_penalty_r1_and_r2_agree_with_a_direct_autograd_computation():
    network = Tiny()
    real, fake = torch.randn(5, 2, 3, 3), torch.randn(5, 2, 3, 3)
    mix = torch.rand(5, 1, 1, 1)
    mixed = mix * real + (1 - mix) * fake
    expected_gp = ((per_sample_gradients(network, mixed).norm(dim=1) - 1) ** 2).mean()
    torch.testing.assert_close(gradient_penalty(network, real, fake, mix), expected_gp)
    expected_r1 = per_sample_gradients(network, real).pow(2).sum(dim=1).mean()
    torch.testing.assert_close(r1_penalty(network, real), expected_r1)
    # R2 is the same penalty at the fakes, which may arrive attached to G's graph.
    fake_from_g = fake.clone().requires_grad_(True) * 1.0
    expected_r2 = per_sample_gradients(network, fake).pow(2).sum(dim=1).mean()
    torch.testing.assert_close(r1_penalty(network, fake_from_g), expected_r2)
    # Both are differentiable in D's weights: they are penalties D trains against.
    r1_penalty(network, real).backward()
    assert network.net[1].weight.grad is not None and network.net[1].weight.grad.abs().sum() > 0


def test_n_discriminator_updates_per_generator_update(tmp_path):
    overrides = [*QUIET, "model.loss=wgan_gp", "model.d_steps_per_g=3", "data.batch_size=50", "trainer.max_steps=4"]
    train(compose_train(tmp_path, *overrides))
    checkpoint = last(tmp_path)
    g_state, d_state = (state["state"] for state in checkpoint["optimizer_states"])
    assert checkpoint["global_step"] == 4  # a step is one generator update...
    assert {int(s["step"]) for s in g_state.values()} == {4}
    assert {int(s["step"]) for s in d_state.values()} == {12}  # ...after 3 discriminator updates
    # ...each on its own batch: 4 steps took 4 x 3 x 50 images of the 10,000, an epoch is 66 steps.
    loader = checkpoint["loops"]["fit_loop"]["state_dict"]["combined_loader"]
    assert loader == [{"epoch": 0, "consumed": 4}]


def test_r1_comes_every_k_updates_scaled_by_k(tmp_path):
    """Lazy regularization (docs/research_knobs.md): with model.r1_every=4, D's loss takes
    gamma / 2 * 4 * R1 at updates 0, 4, 8, ... and nothing at the others."""
    from unittest.mock import PropertyMock, patch

    from hydra.utils import instantiate

    from gan_lightning.losses import r1_penalty

    cfg = compose_train(tmp_path, "model.r1_gamma=2", "model.r1_every=4", "model.r2_gamma=0.5")
    module = instantiate(cfg.model, _recursive_=False, num_classes=0)
    real, fake = torch.rand(8, 1, 28, 28) * 2 - 1, torch.rand(8, 1, 28, 28) * 2 - 1
    critic = lambda x: module.d(x, None)  # noqa: E731
    for step in range(9):
        with patch.object(type(module), "global_step", new_callable=PropertyMock, return_value=step):
            penalties = module._penalties(real, fake, None, update=0, p=None)
        if step % 4:
            assert penalties == {}, step
        else:
            assert penalties.keys() == {"train/r1", "train/r2"}
            assert penalties["train/r1"].item() == pytest.approx(
                0.5 * 2 * 4 * r1_penalty(critic, real).item(), rel=1e-5
            )
            assert penalties["train/r2"].item() == pytest.approx(
                0.5 * 0.5 * 4 * r1_penalty(critic, fake).item(), rel=1e-5
            )


class SpyOnAugment(Callback):
    """Records what D's augmentation is given: whether it carries a gradient to G."""

    def __init__(self) -> None:
        self.calls: list[bool] = []

    def on_train_start(self, trainer, pl_module) -> None:
        augment = pl_module.augment

        def spy(images, *args):
            self.calls.append(images.requires_grad)
            return augment(images, *args)

        pl_module.augment = spy


def test_augmentation_reaches_both_updates(tmp_path):
    """DiffAugment (docs/research_knobs.md) is applied to all D sees: the reals and the detached
    fakes in D's update, and the fakes in G's update, through which G's gradient flows."""
    spy = SpyOnAugment()
    overrides = ["model.augment=[translation]", "trainer.max_steps=2", "logger=none", "~callbacks.sample_quality"]
    train(compose_train(tmp_path, *overrides), extra_callbacks=[spy])
    assert spy.calls == [False, False, True] * 2  # D: reals, fakes (detached); G: fakes, per step
