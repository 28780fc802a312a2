"""``gan-train ckpt_path=<run>`` resumes a run as itself: the run's own overrides first, then
the ones typed now, so a resume needs no other argument and anything typed is a change.

This runs before Hydra composes the config, on the command line alone: a run's overrides are
Hydra's ``.hydra/overrides.yaml`` (the newest of the run's, as each resume saves its own), or,
for a checkpoint that sits outside its run directory, the copy kept in the checkpoint.
"""

from __future__ import annotations

from pathlib import Path

from hydra._internal.utils import get_args_parser
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import OmegaConf

from gan_lightning.plumbing.paths import CONFIG_DIR, run_dir_of

CKPT_KEY = "ckpt_path"
SEARCH_GROUP = "hparams_search"  # its configs set hydra.mode=MULTIRUN: a resumed run is one run


def _key(override: str) -> tuple[str, str | None]:
    (parsed,) = OverridesParser.create().parse_overrides([override])
    return parsed.key_or_group, parsed.package


def run_overrides(run_dir: Path, ckpt: Path | None = None) -> list[str] | None:
    """The overrides ``run_dir`` was last trained with, or None if none are recorded."""
    files = sorted((run_dir / CONFIG_DIR).glob("**/overrides.yaml"), key=lambda p: p.stat().st_mtime)
    if files:
        return [str(o) for o in OmegaConf.load(files[-1])]
    if ckpt is not None and ckpt.is_file():
        import torch  # only for a checkpoint outside its run directory

        try:
            checkpoint = torch.load(ckpt, map_location="cpu", weights_only=True)
        except Exception:  # unreadable: the run reports it, with a checkpoint that does load
            return None
        return checkpoint.get("callbacks", {}).get("RunRecord", {}).get("overrides")
    return None


def _config_dirs(run_dir: Path) -> list[str]:
    """``--config-dir`` folders the run was started with (Hydra records them in hydra.yaml)."""
    hydra_yaml = run_dir / CONFIG_DIR / "hydra.yaml"
    if not hydra_yaml.is_file():
        return []
    sources = OmegaConf.select(OmegaConf.load(hydra_yaml), "hydra.runtime.config_sources", default=[]) or []
    return [s.path for s in sources if s.provider == "command-line" and s.schema == "file"]


def restore_overrides(args: list[str]) -> tuple[list[str], list[str]]:
    """The command line for Hydra: ``args``, preceded by the run's own overrides when ``args``
    resume a run with ``ckpt_path=``, and those it restored. Overrides typed now replace the
    run's for the same key."""
    parsed = get_args_parser().parse_args(args)
    if parsed.multirun:
        return args, []
    typed = {_key(o): o for o in parsed.overrides}
    ckpt_override = next((o for k, o in typed.items() if k[0] == CKPT_KEY), None)
    if ckpt_override is None:
        return args, []
    target = Path(ckpt_override.split("=", 1)[1])
    run_dir = run_dir_of(target)
    own = run_overrides(run_dir, target if target.is_file() else None) or []
    restored = [o for o in own if _key(o)[0] != CKPT_KEY and _key(o) not in typed]
    if any(_key(o)[0] == SEARCH_GROUP for o in restored):
        restored.append("hydra.mode=RUN")
    config_dirs = [] if parsed.config_dir else [a for d in _config_dirs(run_dir) for a in ("--config-dir", d)]
    # Options (--config-dir, ...) first: argparse takes the overrides as one run of words.
    return [*config_dirs, *_options(args, parsed.overrides), *restored, *parsed.overrides], restored


def _options(args: list[str], overrides: list[str]) -> list[str]:
    """``args`` without ``overrides`` (which argparse found in that order among them)."""
    options, pending = [], list(overrides)
    for arg in args:
        if pending and arg == pending[0]:
            pending.pop(0)
        else:
            options.append(arg)
    return options
