"""How many processes a trainer config starts, and the strategy they train with.

``trainer.devices=N`` does what it does in any Lightning project: N > 1 (or several nodes)
trains with DDP, one process per device, whichever trainer preset it starts from. This
template's one LightningModule holds both networks and each manual backward reaches only one
of them, so its DDP must be told to look for unused parameters, or it fails with "parameters
that were not used in producing the loss". ``ddp_settings`` is that one place.
"""

from __future__ import annotations

from typing import Any

from omegaconf import DictConfig, ListConfig

# The DDP this template trains with on several processes (Lightning's, launching a process per
# device; find_unused_parameters: G's backward never reaches D's weights, nor D's G's). The
# extra graph walk is cheap next to the convolutions.
DDP = {"_target_": "lightning.pytorch.strategies.DDPStrategy", "find_unused_parameters": True}
# The strategies a user may leave or type that mean "DDP if there are several processes".
PLAIN = ("auto", "ddp", None)


def _gpus() -> int:
    import torch  # only for a GPU trainer that asks for every GPU of the node

    return torch.cuda.device_count()


def processes_per_node(trainer: DictConfig) -> int:
    """The processes (devices) per node ``trainer`` asks for: ``devices`` as Lightning reads it
    (a count, -1 or ``auto`` for every GPU, a list or a comma-separated string of indices)."""
    devices, accelerator = trainer.get("devices", "auto"), str(trainer.get("accelerator", "auto"))
    if isinstance(devices, list | ListConfig):
        return len(devices)
    if isinstance(devices, str) and "," in devices:
        return len([index for index in devices.split(",") if index.strip()])
    if devices in (-1, "-1", "auto"):
        return _gpus() if accelerator in ("gpu", "cuda") else 1
    try:
        return int(devices)
    except (TypeError, ValueError):
        return 1  # Lightning refuses it with its own message


def multi_process(trainer: DictConfig) -> bool:
    """Whether this trainer starts one process per device itself (Lightning's DDP launcher)."""
    return processes_per_node(trainer) > 1 or int(trainer.get("num_nodes") or 1) > 1


def ddp_settings(trainer: DictConfig) -> None:
    """On several processes, the strategy ``auto`` (or plain ``ddp``) becomes this template's
    DDP; a strategy of the user's own (an object, another name) is left as it is."""
    strategy: Any = trainer.get("strategy")
    if multi_process(trainer) and (strategy in PLAIN):
        trainer.strategy = dict(DDP)
