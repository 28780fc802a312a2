"""Write images from a trained generator.

    gan-sample logs/train/runs/<run> grid                          # an 8x8 grid PNG
    gan-sample logs/train/runs/<run> images --num 1000 --format npz   # uint8 (N, H, W, C)
    gan-sample logs/train/runs/<run> images --num 16 --format png     # one PNG per sample
    gan-sample logs/train/runs/<run> interpolate --steps 12 --format gif
    gan-sample logs/train/runs/<run> progress                       # GIF of the fixed-noise grids
    gan-sample logs/train/runs/<run> losses                         # loss curves (and val/fid) PNG

    gan-sample logs/train/runs/<run> grid --class 7                 # a conditional run: only sevens
    gan-sample logs/train/runs/<run> images --num 100 --class all   # ten of each class, labels in the npz

The first argument is a run directory (its checkpoints/last.ckpt) or a checkpoint file.
--seed fixes z; a run that kept an EMA of G (model.ema_decay) is sampled through whichever of
its two generators scored the lower val/fid at its last scoring (--ema or --raw to choose, and
the raw one when it was not scored); --class picks what a conditional generator
draws (by default every class; an interpolation holds the class fixed). Files go to
<run>/generated/ unless --out.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from PIL import Image

from gan_lightning.plumbing.errors import ArgumentParser, UserError, command
from gan_lightning.plumbing.paths import find_checkpoint, run_dir_of
from gan_lightning.plumbing.startup import load_heavy


def save_gif(frames: list[Image.Image], path: Path, duration_ms: int) -> None:
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=duration_ms, loop=0)


def _better_is_ema(checkpoint: dict) -> bool:
    """Whether the run's EMA generator scored a lower val/fid than its raw one at the run's last
    scoring (said on stderr); False when the run has no EMA or did not score both."""
    import sys

    from gan_lightning.run.records import recorded_metrics

    metrics = recorded_metrics(checkpoint)
    raw, ema = metrics.get("val/fid"), metrics.get("val/fid_ema")
    if raw is None or ema is None:
        return False
    better = "EMA" if ema < raw else "raw"
    print(
        f"Sampling the {better} generator: val/fid_ema {ema:.4g}, val/fid {raw:.4g} at the run's last scoring "
        "(--ema or --raw to choose)",
        file=sys.stderr,
    )
    return ema < raw


def run(args: argparse.Namespace) -> list[Path]:
    """Write what ``args`` ask for; torch and the networks load only once they are checked."""
    ckpt, run_dir = find_checkpoint(args.target), run_dir_of(args.target)
    out = Path(args.out) if args.out else run_dir / "generated"
    out.mkdir(parents=True, exist_ok=True)
    if args.mode == "progress":
        grids = sorted(p for p in (run_dir / "samples").glob("step*.png") if not p.stem.endswith("_ema"))
        if not grids:
            raise UserError(f"{run_dir}: no fixed-noise grids in samples/")
        path = out / "progress.gif"
        save_gif([Image.open(p).convert("RGB") for p in grids], path, args.duration)
        return [path]

    if args.mode == "losses":
        import matplotlib

        matplotlib.use("Agg")  # files only, no display needed
        from gan_lightning.plumbing.scalars import loss_figure, read_scalars

        path = out / "losses.png"
        loss_figure(read_scalars(run_dir)).savefig(path, dpi=100)
        return [path]

    return _draw(args, ckpt, out)


def _draw(args: argparse.Namespace, ckpt: Path, out: Path) -> list[Path]:
    load_heavy()  # the generator's module is a LightningModule
    import numpy as np
    import torch
    from torchvision.utils import save_image

    from gan_lightning.randomness import latent_noise, seeded
    from gan_lightning.run.extensions import import_extensions
    from gan_lightning.run.records import stored_config
    from gan_lightning.run.resume import load_checkpoint
    from gan_lightning.sampling import class_labels, generate, load_generator, slerp, to_pil, to_uint8

    checkpoint = load_checkpoint(ckpt)  # read once: the run's imports and its last scores
    import_extensions((stored_config(checkpoint) or {}).get("imports"))  # the run's own loss
    ema = args.ema or (not args.raw and _better_is_ema(checkpoint))
    tag = f"seed{args.seed}" + ("_ema" if ema else "")
    generator, latent_dim, num_classes = load_generator(ckpt, ema)
    noise = seeded(args.seed)
    n = args.steps if args.mode == "interpolate" else args.num or 64
    labels = class_labels(args.class_, n, num_classes, args.mode)
    tag += f"_class{args.class_}" if args.class_ not in (None, "all") else ""
    if args.mode == "grid":
        n = len(labels) if labels is not None else n
        images = generate(generator, latent_noise(n, latent_dim, noise), labels)
        path = out / f"grid_{tag}.png"
        nrow = n // num_classes if labels is not None and args.class_ in (None, "all") else args.nrow
        save_image(images, path, nrow=nrow, normalize=True, value_range=(-1, 1))
        return [path]
    if args.mode == "images":
        starts = range(0, args.num, 256)
        chunks = [labels[s : s + 256] if labels is not None else None for s in starts]
        batches = [
            generate(generator, latent_noise(min(256, args.num - s), latent_dim, noise), c)
            for s, c in zip(starts, chunks, strict=True)
        ]
        pixels = to_uint8(torch.cat(batches))
        if args.format == "npz":
            path = out / f"samples_{tag}_{args.num}.npz"
            extra = {"labels": labels.numpy()} if labels is not None else {}
            np.savez_compressed(path, images=pixels, **extra)
            return [path]
        folder = out / f"samples_{tag}"
        folder.mkdir(exist_ok=True)
        paths = [folder / f"{i:05d}.png" for i in range(len(pixels))]
        for image, path in zip(to_pil(pixels), paths, strict=True):
            image.save(path)
        return paths
    # interpolate
    ends = latent_noise(2, latent_dim, noise)
    z = slerp(ends[0], ends[1], torch.linspace(0, 1, args.steps))
    held = labels[:1].expand(args.steps) if labels is not None else None  # the class stays fixed
    images = generate(generator, z, held)
    if args.format == "png":
        path = out / f"interpolation_{tag}.png"
        save_image(images, path, nrow=args.steps, normalize=True, value_range=(-1, 1))
        return [path]
    path = out / f"interpolation_{tag}.gif"
    frames = to_pil(to_uint8(images))
    save_gif(frames, path, args.duration)
    return [path]


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = ArgumentParser(__doc__)
    parser.add_argument("target", help="a run directory or a checkpoint file")
    parser.add_argument("mode", choices=["grid", "images", "interpolate", "progress", "losses"])
    parser.add_argument("--seed", type=int, default=0, help="fixes z (default 0)")
    parser.add_argument("--ema", action="store_true", help="sample the EMA generator")
    parser.add_argument("--raw", action="store_true", help="sample the raw generator, not its EMA")
    parser.add_argument(
        "--class", dest="class_", default=None, help="conditional generators: a class number, or all (the default)"
    )
    parser.add_argument("--num", type=int, default=0, help="samples: grid 64, images 1000 by default")
    parser.add_argument("--nrow", type=int, default=8, help="grid width")
    parser.add_argument("--format", choices=["png", "npz", "gif"], default=None)
    parser.add_argument("--steps", type=int, default=10, help="interpolation frames")
    parser.add_argument("--duration", type=int, default=200, help="ms per GIF frame")
    parser.add_argument("--out", default=None, help="output folder (default <run>/generated)")
    args = parser.parse_args(argv)
    if args.ema and args.raw:
        parser.error("--ema and --raw: one generator at a time")
    if args.mode == "images":
        args.num = args.num or 1000
        args.format = args.format or "npz"
        if args.format == "gif":
            parser.error("images are written as png or npz")
    if args.mode == "interpolate":
        args.format = args.format or "gif"
        if args.format == "npz":
            parser.error("an interpolation is written as gif or png")
    return args


@command
def main(argv: list[str] | None = None) -> None:
    paths = run(parse(argv))
    print(paths[0] if len(paths) == 1 else f"{len(paths)} files in {paths[0].parent}")


if __name__ == "__main__":
    main()
