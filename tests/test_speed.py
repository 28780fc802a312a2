"""The CPU defaults' arithmetic: bf16 autocast against fp32, and the roof's op count; and the
start-up's import of Lightning."""

from __future__ import annotations

import gc

import pytest
import torch

from gan_lightning.bench.roof import _Recorder, measure_roof
from gan_lightning.losses import get_loss, gradient_penalty, r1_penalty
from gan_lightning.models import DCGANDiscriminator, DCGANGenerator
from gan_lightning.plumbing import startup


def _fixed_batch() -> tuple[torch.nn.Module, torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    generator = DCGANGenerator(latent_dim=16, channels=1, image_size=32, base_width=16)
    discriminator = DCGANDiscriminator(channels=1, image_size=32, base_width=16, batch_norm=False)
    real = torch.rand(8, 1, 32, 32) * 2 - 1
    with torch.no_grad():
        fake = generator(torch.randn(8, 16))
    return discriminator, real, fake


def _terms(discriminator, real, fake, mix) -> dict[str, torch.Tensor]:
    loss = get_loss("wgan_gp")
    return {
        "d_loss": loss.discriminator(discriminator(real).float(), discriminator(fake).float()),
        "gp": gradient_penalty(discriminator, real, fake, mix),
        "r1": r1_penalty(discriminator, real),
        "r2": r1_penalty(discriminator, fake),
    }


def test_bf16_autocast_penalties_are_finite_and_match_fp32():
    """WGAN-GP's penalty, R1 and R2 take a double backward through D: under bf16 autocast (the
    CPU default) they and the loss stay within bf16's rounding of fp32 on a fixed batch."""
    discriminator, real, fake = _fixed_batch()
    mix = torch.rand(real.size(0), 1, 1, 1, generator=torch.Generator().manual_seed(1))
    exact = _terms(discriminator, real, fake, mix)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        mixed = _terms(discriminator, real, fake, mix)
    for name, value in mixed.items():
        assert torch.isfinite(value), name
        assert value.float().item() == pytest.approx(exact[name].item(), rel=0.05, abs=1e-3), name
    # and their gradients reach D's weights, finite, in both
    total = sum(mixed.values())
    total.backward()
    assert all(torch.isfinite(p.grad).all() for p in discriminator.parameters())


def test_roof_counts_a_layers_flops_by_the_formula():
    """One linear layer, forward and backward (weight gradient only: the input needs none):
    2·B·in·out FLOPs each way, two matmuls, and a positive roof."""
    batch, width_in, width_out = 32, 64, 16
    layer = torch.nn.Linear(width_in, width_out)
    recorder = _Recorder()
    with recorder:
        layer(torch.randn(batch, width_in)).sum().backward()
    rows = measure_roof(recorder, batch, min_seconds=0.001)
    assert rows["matmul"]["calls"] == 2 and "conv" not in rows
    assert rows["all"]["flops"] == 2 * (2 * batch * width_in * width_out)
    assert rows["all"]["gflop_per_image"] == pytest.approx(4 * width_in * width_out / 1e9)
    assert rows["all"]["images_per_s"] > 0 and rows["all"]["gflops_per_s"] > 0


def test_a_heavy_import_runs_with_the_collector_paused_and_its_objects_frozen(tmp_path, monkeypatch):
    """What every command does to Lightning, on modules that record the collector's state; and
    what it leaves alone when Python calls train() itself (a notebook)."""
    code = "import gc\n\nCOLLECTING = gc.isenabled()\nMADE = [[] for _ in range(1000)]\n"
    for name in ("probe_a", "probe_b", "probe_c"):
        (tmp_path / f"{name}.py").write_text(code)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(startup, "_in_a_command", True)
    frozen = gc.get_freeze_count()
    module = startup.load_heavy("probe_a")
    assert module.COLLECTING is False and gc.isenabled()  # paused while it ran, on again after
    assert gc.get_freeze_count() >= frozen + 1000  # its objects: out of every later collection
    assert startup.load_heavy("probe_a") is module  # once: already imported, left as it is
    gc.disable()  # a caller that turned the collector off keeps it off
    try:
        assert startup.load_heavy("probe_b").COLLECTING is False and not gc.isenabled()
    finally:
        gc.enable()
    monkeypatch.setattr(startup, "_in_a_command", False)  # not a command: a plain import
    frozen = gc.get_freeze_count()
    assert startup.load_heavy("probe_c").COLLECTING is True and gc.get_freeze_count() == frozen
