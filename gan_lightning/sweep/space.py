"""A sweep's search space, from what its command line (and ``hydra.sweeper.params``) asks for,
in Hydra's sweep syntax: comma lists and ranges are sets of values, ``interval(a, b)`` (with
``tag(log, ...)`` for a log scale) is a range to sample; ``seed`` is taken apart, as the seeds
every setting runs with."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import optuna
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import IntervalSweep, Override
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

from gan_lightning.plumbing.errors import UserError

SEED = "seed"


@dataclass
class Param:
    """One swept setting: its override key and the values (or interval) it may take."""

    key: str
    choices: list[str] | None = None  # a list or range: every value, as typed
    low: float | None = None  # an interval: Optuna samples it
    high: float | None = None
    log: bool = False
    integer: bool = False

    def distribution(self) -> optuna.distributions.BaseDistribution:
        if self.choices is not None:
            return CategoricalDistribution(self.choices)
        if self.integer:
            return IntDistribution(int(self.low), int(self.high), log=self.log)
        return FloatDistribution(self.low, self.high, log=self.log)

    def describe(self) -> str:
        return ",".join(self.choices) if self.choices is not None else f"interval({self.low}, {self.high})"


def _param(override: Override) -> Param:
    key, value = override.get_key_element(), override.value()
    if isinstance(value, IntervalSweep):
        integer = isinstance(value.start, int) and isinstance(value.end, int)
        return Param(key, low=value.start, high=value.end, log="log" in value.tags, integer=integer)
    return Param(key, choices=list(override.sweep_string_iterator()))


@dataclass
class SearchSpace:
    """What a sweep's command asks for: the swept parameters, the overrides every run shares,
    and the seeds each setting runs with (``seed=0,1,2`` or ``sweep.seeds=3``)."""

    params: dict[str, Param]
    fixed: list[str]
    seeds: list[int] | None

    @classmethod
    def parse(cls, arguments: Sequence[str], config_params: dict[str, str] | None, seeds: int | None) -> SearchSpace:
        lines = [f"{key}={value}" for key, value in (config_params or {}).items()]
        parsed = OverridesParser.create().parse_overrides([*lines, *arguments])
        params, fixed = {}, []
        for override in parsed:  # later ones (the command line) win over the config's
            key = override.get_key_element()
            fixed = [f for f in fixed if f.partition("=")[0] != key]
            if override.is_sweep_override():
                params[key] = _param(override)
            else:
                params.pop(key, None)
                fixed.append(override.input_line)
        seed_param = params.pop(SEED, None)
        if seed_param is not None and seeds is not None:
            raise UserError("seed=... and sweep.seeds both set: give the seeds one way")
        if seed_param is not None and seed_param.choices is None:
            raise UserError("seed: give the seeds as a list (seed=0,1,2) or a count (sweep.seeds=3)")
        seed_list = [int(s) for s in seed_param.choices] if seed_param else list(range(seeds)) if seeds else None
        if seed_list is not None:
            fixed = [f for f in fixed if f.partition("=")[0].lstrip("+") != SEED]
        return cls(params, fixed, seed_list)

    def describe(self) -> dict[str, str]:
        described = {key: param.describe() for key, param in self.params.items()}
        return described | ({SEED: ",".join(map(str, self.seeds))} if self.seeds else {})
