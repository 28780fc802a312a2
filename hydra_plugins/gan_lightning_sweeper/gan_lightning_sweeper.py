"""Every ``gan-train -m`` sweep runs through this sweeper: comma lists and ranges become a grid
(Optuna's GridSampler), ``hydra.sweeper.sampler=tpe`` samples intervals with TPE. The study
lives in the sweep directory, so a sweep can be stopped, resumed and pruned.

Kept light: Hydra imports this module on every command to find its plugins; Optuna is
imported only when a sweep starts.
"""

# No `from __future__ import annotations` here, and typing's Optional/Dict: Hydra loads this
# module outside sys.modules, and OmegaConf reads these annotations as a schema.
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional  # noqa: UP035

from hydra.core.config_store import ConfigStore
from hydra.core.plugins import Plugins
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf


@dataclass
class GanLightningSweeperConf:
    _target_: str = "hydra_plugins.gan_lightning_sweeper.gan_lightning_sweeper.GanLightningSweeper"
    sampler: str = "grid"  # grid | tpe | random
    n_trials: Optional[int] = None  # noqa: UP045  # grid: every point; tpe, random: 20. Runs, each seed counted
    seed: Optional[int] = None  # noqa: UP045  # the sampler's seed
    direction: str = "minimize"  # of optimized_metric
    study_name: str = "sweep"
    storage: Optional[str] = None  # noqa: UP045  # None: an Optuna journal file in the sweep directory; or an RDB URL
    pruner: str = "none"  # none | median | successive_halving
    pruner_args: Dict[str, Any] = field(default_factory=dict)  # noqa: UP006  # e.g. {n_startup_trials: 3}
    sampler_args: Dict[str, Any] = field(default_factory=dict)  # noqa: UP006  # e.g. {n_startup_trials: 8} for TPE
    batch_size: Optional[int] = None  # noqa: UP045  # runs launched together; None: the launcher's n_jobs, else 1
    params: Optional[Dict[str, str]] = None  # noqa: UP006, UP045  # key: sweep, as on the command line (a,b | range | interval)


ConfigStore.instance().store(group="hydra/sweeper", name="gan_lightning", node=GanLightningSweeperConf)


class GanLightningSweeper(Sweeper):
    def __init__(self, **options: Any) -> None:
        self.options = OmegaConf.create({k: v for k, v in options.items() if k != "_target_"})
        self.config: Optional[DictConfig] = None  # noqa: UP045
        self.launcher: Any = None

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        self.config = config
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config
        )

    def sweep(self, arguments: List[str]) -> Any:  # noqa: UP006
        from gan_lightning.sweep.study import Sweep

        return Sweep(self.options, self.config, self.launcher).run(arguments)
