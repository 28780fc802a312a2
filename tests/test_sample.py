"""gan-sample on a tiny trained run writes what it promises."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gan_lightning.sample import main
from gan_lightning.train import train
from tests.conftest import compose_train

# Its module-scoped fixtures are built once: its tests share one worker.
pytestmark = pytest.mark.xdist_group("test_sample")


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("run")
    overrides = ["trainer.max_steps=20", "model.ema_decay=0.9", "callbacks.fixed_noise_grid.every_n_steps=5"]
    train(compose_train(run, *overrides, "logger=none"))
    return run


def test_grid(run_dir, capsys):
    main([str(run_dir), "grid", "--seed", "3", "--raw"])
    path = run_dir / "generated" / "grid_seed3.png"
    assert capsys.readouterr().out.strip() == str(path)
    assert Image.open(path).size == (8 * 28 + 9 * 2, 8 * 28 + 9 * 2)


def test_images_as_npz_are_seeded_uint8(run_dir, tmp_path):
    for out in ("a", "b"):
        main(
            [
                str(run_dir / "checkpoints" / "last.ckpt"),
                "images",
                "--num",
                "300",
                "--raw",
                "--out",
                str(tmp_path / out),
            ]
        )
    first, second = (np.load(tmp_path / out / "samples_seed0_300.npz")["images"] for out in ("a", "b"))
    assert first.shape == (300, 28, 28, 1) and first.dtype == np.uint8
    assert np.array_equal(first, second) and first.std() > 0


def test_images_as_pngs_and_from_the_ema_generator(run_dir):
    main([str(run_dir), "images", "--num", "5", "--format", "png", "--ema"])
    main([str(run_dir), "images", "--num", "5", "--format", "png", "--raw"])
    files = sorted((run_dir / "generated" / "samples_seed0_ema").glob("*.png"))
    assert [p.name for p in files] == [f"{i:05d}.png" for i in range(5)]
    assert Image.open(files[0]).size == (28, 28)
    # The same noise through the other generator: the EMA's images are its own.
    raw = sorted((run_dir / "generated" / "samples_seed0").glob("*.png"))
    ema_pixels, raw_pixels = (np.stack([np.asarray(Image.open(p)) for p in paths]) for paths in (files, raw))
    assert ema_pixels.shape == raw_pixels.shape and not np.array_equal(ema_pixels, raw_pixels)


def test_by_default_the_generator_that_scored_better_is_sampled(run_dir, capsys):
    """A run with an EMA holds two generators: the one with the lower val/fid at the run's last
    scoring is drawn from, and a line on stderr says which and why."""
    import torch

    from gan_lightning.run.records import recorded_metrics

    metrics = recorded_metrics(torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=False))
    ema_better = metrics["val/fid_ema"] < metrics["val/fid"]
    main([str(run_dir), "grid", "--seed", "5"])
    out, err = capsys.readouterr()
    expected = run_dir / "generated" / ("grid_seed5_ema.png" if ema_better else "grid_seed5.png")
    assert out.strip() == str(expected) and expected.is_file()
    assert f"Sampling the {'EMA' if ema_better else 'raw'} generator: val/fid_ema" in err
    with pytest.raises(SystemExit) as exit_:
        main([str(run_dir), "grid", "--ema", "--raw"])
    assert exit_.value.code == 2


@pytest.mark.parametrize("fmt, frames", [("gif", 6), ("png", 1)])
def test_interpolation(run_dir, fmt, frames):
    main([str(run_dir), "interpolate", "--steps", "6", "--format", fmt, "--raw"])
    image = Image.open(run_dir / "generated" / f"interpolation_seed0.{fmt}")
    assert getattr(image, "n_frames", 1) == frames
    if fmt == "png":
        assert image.size[0] == 6 * 28 + 7 * 2  # one row of 6


def test_progress_gif_has_one_frame_per_grid(run_dir):
    main([str(run_dir), "progress"])
    grids = [p for p in (run_dir / "samples").glob("step*.png") if not p.stem.endswith("_ema")]
    assert Image.open(run_dir / "generated" / "progress.gif").n_frames == len(grids) == 5


def test_bad_target_is_one_line(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([str(tmp_path / "nowhere"), "grid"])
    assert exit_info.value.code == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("error: ") and "nowhere: no checkpoint at" in line


def test_loss_curves_png(tmp_path):
    run = tmp_path / "run"
    train(compose_train(run, "trainer.max_steps=20", "trainer.log_every_n_steps=5"))
    main([str(run), "losses"])
    image = Image.open(run / "generated" / "losses.png")
    assert image.size[0] > 2 * image.size[1]  # side-by-side panels: losses, D's outputs, val/fid
    # What the panels plot is what the run logged.
    from gan_lightning.plumbing.scalars import loss_figure, read_scalars

    scalars = read_scalars(run)
    axes = loss_figure(scalars).axes
    assert [ax.get_title() for ax in axes] == ["losses", "D(x) and D(G(z))", "sample quality (lower is better)"]
    plotted = {line.get_label(): (list(line.get_xdata()), list(line.get_ydata())) for ax in axes for line in ax.lines}
    assert plotted.keys() == {"train/d_loss", "train/g_loss", "train/d_real", "train/d_fake", "val/fid", "val/fid_ema"}
    for tag, (steps, values) in plotted.items():
        assert steps == list(scalars[tag][0]) and values == pytest.approx(list(scalars[tag][1])), tag
    assert plotted["train/g_loss"][0] == [5, 10, 15, 20]
