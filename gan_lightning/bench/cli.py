"""``python -m gan_lightning.bench``: runs the paths and the roof, prints tables and targets."""

from __future__ import annotations

import multiprocessing as mp
import statistics
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from gan_lightning.bench.modes import FP32_DEFAULTS, MODES
from gan_lightning.plumbing.errors import ArgumentParser, UserError, command

# (numerator, denominator, at least, networks): a target is met when the ratio of their
# images/s is; each is printed for the networks it was set for (an MLP's step has no
# convolutions, a DCGAN's has).
TARGETS = (
    ("template", "plain", 2.0, "mlp"),
    ("template", "plain_memory", 1.2, "mlp"),
    ("template", "template_fp32", 2.0, "conv"),
)
ROOF_SHARE_TARGET = 0.6  # DCGAN 32x32: of the roof at the template's precision
NETWORKS = {"mlp": "the vanilla GAN", "conv": "DCGAN 32x32"}  # whose targets they are


def _run(in_process: bool, function: Callable, *args: Any) -> Any:
    if in_process:
        return function(*args)
    # A fresh process per measurement: no warm caches, and its own peak RSS.
    with ProcessPoolExecutor(1, mp_context=mp.get_context("spawn")) as pool:
        return pool.submit(function, *args).result()


def _roof_table(roofs: list[dict[str, Any]]) -> None:
    print("| precision | ops | calls per iteration | GFLOP per iteration | ms alone | GFLOP/s | roof images/s |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for roof in roofs:
        for kind, row in roof["rows"].items():
            images = f"{row['images_per_s']:.0f}" if "images_per_s" in row else ""
            print(
                f"| {roof['precision']} | {kind} | {row['calls']:.0f} | {row['flops'] / 1e9:.3f} | "
                f"{1000 * row['seconds']:.2f} | {row['gflops_per_s']:.1f} | {images} |"
            )
    per_image = roofs[0]["rows"]["all"]["gflop_per_image"]
    print(f"\n{per_image:.4f} GFLOP per image (D and G updates, forward and backward; batch {roofs[0]['batch_size']})")


def _targets(rate: dict[str, float], startup: dict[str, float], share: dict[str, float], networks: str) -> None:
    """The targets set for these ``networks`` ("mlp" or "conv"), met or not."""
    other = {"mlp": "experiment=mnist_dcgan32", "conv": "experiment=mnist_gan"}[networks]
    print(f"\nTargets set for {NETWORKS[networks]}'s networks ({other} runs the others'):")
    verdict = {True: "met", False: "NOT met"}
    for top, bottom, least, kind in TARGETS:
        if kind == networks and top in rate and bottom in rate:
            ratio = rate[top] / rate[bottom]
            whose = f"{NETWORKS[kind]}'s target"
            print(f"- {top} / {bottom} = {ratio:.2f} (at least {least} is {whose}): {verdict[ratio >= least]}")
    if networks == "conv" and "template" in share:
        least = f"at least {ROOF_SHARE_TARGET:.0%} is {NETWORKS['conv']}'s target"
        met = verdict[share["template"] >= ROOF_SHARE_TARGET]
        print(f"- template's share of its roof = {share['template']:.0%} ({least}): {met}")
    if "template" in startup and "template_fp32" in startup:
        new, old = startup["template"], startup["template_fp32"]
        met = verdict[new <= old * 1.1]  # 10%: the spread of one start on this CPU
        print(f"- start-up to the first iteration: template {new:.1f} s, template_fp32 {old:.1f} s (not slower): {met}")


@command
def main(argv: list[str] | None = None) -> None:
    import gan_lightning.bench

    parser = ArgumentParser(gan_lightning.bench.__doc__)
    parser.add_argument("--steps", type=int, default=300, help="timed iterations per measurement")
    parser.add_argument("--warmup", type=int, default=30, help="iterations before timing starts")
    parser.add_argument("--repeats", type=int, default=3, help="rounds of the paths")
    parser.add_argument("--workers", type=int, default=2, help="DataLoader workers of the plain loop (b)")
    parser.add_argument("--paths", default=",".join(MODES), help=f"which paths, comma-separated, of {','.join(MODES)}")
    parser.add_argument("--roof", action="store_true", help="measure and print the roof alone")
    parser.add_argument("--roof-seconds", type=float, default=0.05, help="time per op when measuring the roof")
    parser.add_argument(
        "--in-process",
        action="store_true",
        help="run every measurement in this process: a quick check of the paths, not a measurement "
        "(caches, threads and peak RSS are shared between them)",
    )
    parser.add_argument("overrides", nargs="*", help="Hydra overrides, as for gan-train")
    args = parser.parse_args(argv)
    modes = [mode.strip() for mode in args.paths.split(",") if mode.strip()]
    if unknown := sorted(set(modes) - set(MODES)):
        raise UserError(f"--paths: no path {', '.join(unknown)}; the paths are {', '.join(MODES)}")
    from gan_lightning.bench import paths  # torch and Lightning: only once the arguments are good

    # The roof at the template's precision, and at fp32 for the fp32 paths.
    roofs = [_run(args.in_process, paths.roof, args.overrides, args.roof_seconds)]
    if roofs[0]["precision"] != "32-true":
        roofs.append(_run(args.in_process, paths.roof, [*args.overrides, *FP32_DEFAULTS], args.roof_seconds))
    print(f"\nRoof of {' '.join(args.overrides) or 'defaults'}: heavy ops of one iteration, each timed alone\n")
    _roof_table(roofs)
    if args.roof:
        return
    roof_rate = {roof["precision"]: roof["rows"]["all"]["images_per_s"] for roof in roofs}

    results: dict[str, list[dict[str, float]]] = {mode: [] for mode in modes}
    for round_ in range(args.repeats):
        for mode in modes:
            started = time.time()
            result = _run(args.in_process, paths.measure, mode, args.overrides, args.warmup, args.steps, args.workers)
            result["startup"] = result["first"] - started
            results[mode].append(result)
            print(f"round {round_ + 1}/{args.repeats} {mode}: {result['rate']:.0f} images/s", flush=True)

    rate = {mode: statistics.median(r["rate"] for r in results[mode]) for mode in modes}
    startup = {mode: statistics.median(r["startup"] for r in results[mode]) for mode in modes}
    precision = {mode: roofs[0]["precision"] if mode == "template" else "32-true" for mode in modes}
    share = {mode: rate[mode] / roof_rate[precision[mode]] for mode in modes}
    print(f"\n{' '.join(args.overrides) or 'defaults'}: {args.steps} timed iterations, median of {args.repeats}\n")
    print("| path | precision | images/s | share of roof | start-up (s) | peak RSS (MiB) | template / this |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for mode in modes:
        peak = max(r["rss"] for r in results[mode])
        ratio = f"{rate['template'] / rate[mode]:.2f}" if "template" in rate else ""
        print(
            f"| {mode} | {precision[mode]} | {rate[mode]:.0f} | {share[mode]:.0%} | {startup[mode]:.1f} | "
            f"{peak:.0f} | {ratio} |"
        )
    _targets(rate, startup, share, "conv" if "conv" in roofs[0]["rows"] else "mlp")
