"""Score a trained generator: FID, KID and IS, with real data scored the same way as the floor.

    gan-eval logs/train/runs/<run>                          # its last.ckpt
    gan-eval logs/train/runs/<run>/checkpoints/best.ckpt --num-samples 10000
    gan-eval logs/train/runs/<run> --data-root data         # real images from elsewhere
    gan-eval logs/train/runs/<run> --json scores.json

The real images are the run's data set as its config names it (for MNIST its test split):
``num_samples`` of them are the reference, ``num_samples`` others are scored against it as
the floor, the value a perfect generator would reach at this sample size.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gan_lightning.plumbing.errors import ArgumentParser, UserError, command
from gan_lightning.plumbing.paths import find_checkpoint
from gan_lightning.plumbing.startup import load_heavy

if TYPE_CHECKING:
    from gan_lightning.gan_module import GANModule

LABELS = {"generator": "generator", "generator_ema": "EMA generator", "real": "real (floor)"}
MAX_CLASSES_FOR_FID = 100  # FID by class needs many samples of each: not for Stacked MNIST's 1,000


def run_data_module(checkpoint: dict[str, Any], data_root: str | None) -> Any:
    """The data module the run trained on, rebuilt from the config stored in its checkpoint."""
    from hydra.utils import instantiate

    from gan_lightning.run.records import stored_config

    config = stored_config(checkpoint)
    if not config or "data" not in config:
        raise UserError("the checkpoint holds no run config (not written by gan-train): cannot find its data")
    data = dict(config["data"])
    if data_root:
        data["root"] = data_root
    datamodule = instantiate(data, _convert_="all")
    datamodule.prepare_data()
    datamodule.setup("fit")
    return datamodule


def run_sample_count(scoring: dict[str, Any], features: str) -> int:
    """The samples the run scored: on gan-eval's device, the CPU, as ``SampleQuality`` counts
    them, a cut said in a line as the run said it."""
    from gan_lightning.callbacks.sample_quality import CPU_INCEPTION_SAMPLES, NUM_SAMPLES, scoring_count

    wanted = int(scoring.get("num_samples", NUM_SAMPLES))
    count = scoring_count(wanted, features, True, scoring.get("cpu_inception_samples", CPU_INCEPTION_SAMPLES))
    if count < wanted:
        print(
            f"Scoring {count} samples, not {wanted}: Inception on a CPU, as the run's "
            "cpu_inception_samples (--num-samples for another count)",
            file=sys.stderr,
        )
    return count


def evaluate(
    target: str | Path,
    num_samples: int | None = None,
    seed: int | None = None,
    data_root: str | None = None,
    features: str | None = None,
    inception_weights: str | None = None,
    batch_size: int = 500,
    metrics: list[str] | None = None,
) -> dict[str, dict[str, float]]:
    """``{"generator": {...}, "generator_ema": {...}, "real": {...}}`` of every metric of the
    registry that applies (FID, KID, IS; for MNIST-like data also modes and class_kl).
    ``num_samples``, ``seed``, ``features`` and ``inception_weights`` left unset are the run's
    scoring ones."""
    ckpt = find_checkpoint(target)  # a wrong path is told before anything heavy loads
    load_heavy()
    import numpy as np
    import torch

    from gan_lightning.callbacks.sample_quality import default_features
    from gan_lightning.gan_module import GANModule
    from gan_lightning.metrics.scores import SampleScores, as_float_batches
    from gan_lightning.run.extensions import import_extensions
    from gan_lightning.run.records import stored_config
    from gan_lightning.run.resume import load_checkpoint
    from gan_lightning.sampling import sample_batches

    checkpoint = load_checkpoint(ckpt)
    # Unset: the run's own scoring seed and sample count, so gan-eval reproduces its figures.
    config = stored_config(checkpoint) or {}
    import_extensions(config.get("imports"))  # the run's own losses and metrics, registered
    scoring = (config.get("callbacks") or {}).get("sample_quality") or {}
    seed = int(scoring.get("seed", config.get("seed", 0))) if seed is None else seed
    datamodule = run_data_module(checkpoint, data_root)
    features = scoring.get("features", "auto") if features is None else features  # unset: the run's
    inception_weights = scoring.get("inception_weights") if inception_weights is None else inception_weights
    features = default_features(datamodule) if features == "auto" else features
    num_samples = run_sample_count(scoring, features) if num_samples is None else num_samples
    module = GANModule.load_from_checkpoint(ckpt, map_location="cpu", compile=False).eval()
    reference = datamodule.reference_images()
    num = min(num_samples, len(reference) // 2)
    if num < 2:
        raise UserError(f"only {len(reference)} real images: too few to score")
    order = torch.randperm(len(reference), generator=torch.Generator().manual_seed(seed)).numpy()
    first, second = (np.sort(order[i * num : (i + 1) * num]) for i in range(2))
    reference = reference.cpu() if torch.is_tensor(reference) else reference

    bf16 = bool(scoring.get("inception_bf16", True))  # the run's own choice
    scores = SampleScores(features, inception_weights=inception_weights, metrics=metrics, inception_bf16=bf16)
    cpu = torch.device("cpu")
    scores.add_real(as_float_batches(reference[first], batch_size, cpu))
    results = {}
    for name in ("generator", "generator_ema"):
        generator = getattr(module, name)
        if generator is not None:
            fakes = sample_batches(generator, num, module.latent_dim, batch_size, seed, cpu, module.num_classes)
            results[name] = scores.score(fakes, seed=seed)
    results["real"] = scores.score(as_float_batches(reference[second], batch_size, cpu), seed=seed)
    if 0 < module.num_classes <= MAX_CLASSES_FOR_FID:
        labels = datamodule.reference_labels()
        results["fid_by_class"] = fid_by_class(
            module, reference, labels, num, batch_size, seed, features, inception_weights
        )
    results["about"] = {
        "checkpoint": str(ckpt),
        "features": features,
        "num_samples": num,
        "real": getattr(datamodule, "source", ""),
    }
    return results


def fid_by_class(
    module: GANModule,
    reference: Any,
    labels: Any,
    num: int,
    batch_size: int,
    seed: int,
    features: str,
    inception_weights: str | None,
) -> dict[str, float]:
    """FID of each class's samples against that class's real images (``num`` / classes of
    each): which digits a conditional generator draws well."""
    import numpy as np
    import torch

    from gan_lightning.metrics.scores import SampleScores, as_float_batches
    from gan_lightning.sampling import generate, latents

    if labels is None:
        raise UserError("this data set has no labels for its real images: no per-class FID")
    cpu, per_class, result = torch.device("cpu"), max(2, num // module.num_classes), {}
    for k in range(module.num_classes):
        real = np.flatnonzero(labels.numpy() == k)[:per_class]
        scores = SampleScores(features, inception_weights=inception_weights)
        scores.add_real(as_float_batches(reference[np.sort(real)], batch_size, cpu))
        z = latents(per_class, module.latent_dim, seed + k)
        fakes = generate(module.generator, z, torch.full((per_class,), k))
        result[str(k)] = scores.score([fakes], seed=seed)["fid"]
    return result


def table(results: dict[str, dict[str, Any]]) -> str:
    about = results["about"]
    rows = [results[key] for key in LABELS if key in results]
    columns = [name for name in dict.fromkeys(n for row in rows for n in row) if not name.endswith("_std")]
    lines = [
        f"{about['checkpoint']}: {about['num_samples']} samples each, {about['features']} features",
        f"{'':14}" + "".join(f"{name.upper():>12}" for name in columns),
    ]
    for key, label in LABELS.items():
        if key in results:
            lines.append(f"{label:14}" + "".join(f"{results[key].get(name, float('nan')):12.4g}" for name in columns))
    if "fid_by_class" in results:
        by_class = results["fid_by_class"]
        lines += ["FID by class (the generator's samples of each class against that class's real images):"]
        lines += ["  " + "  ".join(f"{k}: {v:.4g}" for k, v in by_class.items())]
    return "\n".join(lines)


@command
def main(argv: list[str] | None = None) -> None:
    parser = ArgumentParser(__doc__)
    parser.add_argument("target", help="a run directory (its last.ckpt) or a checkpoint file")
    parser.add_argument(
        "--num-samples", type=int, default=None, help="generated, and as many real (default: as the run scored, 5000)"
    )
    parser.add_argument(
        "--seed", type=int, default=None, help="fixes z and the choice of real images (default: the run's scoring seed)"
    )
    parser.add_argument("--data-root", default=None, help="where the real data is, if not where the run read it")
    parser.add_argument(
        "--features",
        default=None,
        help="auto, a classifier name or weights file, or inception (default: as the run scored)",
    )
    parser.add_argument(
        "--inception-weights", default=None, help="a local Inception-v3 weights file (default: the run's)"
    )
    parser.add_argument("--json", default=None, help="also write the scores to this JSON file")
    parser.add_argument("--metrics", default=None, help="a comma-separated choice, e.g. fid,kid,prdc (default: all)")
    args = parser.parse_args(argv)
    metrics = args.metrics.split(",") if args.metrics else None
    results = evaluate(
        args.target, args.num_samples, args.seed, args.data_root, args.features, args.inception_weights, metrics=metrics
    )
    print(table(results))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
