"""Sweeps on the project's Optuna sweeper: stopped and continued, pruned, grouped by seed, drawn."""

import csv
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from lightning.pytorch import Callback
from omegaconf import OmegaConf
from PIL import Image

from gan_lightning.plumbing.errors import UserError
from gan_lightning.run.lock import RunLock
from gan_lightning.sweep.results import write_result
from gan_lightning.sweep.storage import load_study
from gan_lightning.sweep.study import Sweep
from hydra_plugins.gan_lightning_sweeper.gan_lightning_sweeper import GanLightningSweeperConf
from tests.conftest import run_gan_train, start_gan_train
from tests.test_train import read_events

TINY = ["debug=limit", "trainer.max_steps=5", "data.download=false", "trainer.enable_progress_bar=false"]


def the_sweep(cwd: Path) -> Path:
    (sweep_dir,) = (cwd / "logs" / "train" / "multiruns").iterdir()
    return sweep_dir


def csv_rows(path: Path) -> list[dict]:
    with open(path) as f:
        return list(csv.DictReader(f))


def is_image(path: Path) -> bool:
    with Image.open(path) as image:
        image.verify()
    return path.stat().st_size > 0


class HangAt(Callback):
    """In the run whose directory is named ``run``, stops dead at ``step`` (after that step's
    checkpoint) and leaves ``marker``: a sweep to kill mid-run at a known place."""

    def __init__(self, run: str, step: int, marker: str) -> None:
        self.run, self.step, self.marker = run, step, Path(marker)

    def on_train_batch_end(self, trainer, *args) -> None:
        if Path(trainer.default_root_dir).name == self.run and trainer.global_step == self.step:
            self.marker.write_text("hanging")
            time.sleep(600)


@pytest.mark.slow
def test_a_grid_killed_mid_run_continues_with_the_same_command(tmp_path):
    marker = tmp_path / "hanging"
    hang = ["+callbacks.hang._target_=tests.test_sweep.HangAt", "+callbacks.hang.run='2'", "+callbacks.hang.step=4"]
    sweep_dir = tmp_path / "sweep"
    command = ["-m", "model.g_optimizer.lr=1e-4,2e-4", "seed=0,1", f"hydra.sweep.dir={sweep_dir}", *TINY]
    command += [
        "trainer.max_steps=8",
        "callbacks.sample_quality.num_samples=200",  # a val/fid to sort by, quickly
        "callbacks.last_checkpoint.every_n_steps=2",
        *hang,
        f"+callbacks.hang.marker={marker}",
    ]
    sweep = start_gan_train(tmp_path, *command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not marker.exists() and time.monotonic() < deadline and sweep.poll() is None:
        time.sleep(0.1)
    assert marker.exists(), "the third run never reached its step 4"
    sweep.kill()  # kill -9 of the sweep process, the run inside it with it
    sweep.wait()
    assert torch.load(sweep_dir / "2" / "checkpoints" / "last.ckpt", weights_only=True)["global_step"] == 4

    again = run_gan_train(tmp_path, *command)  # the same command, same sweep directory
    assert again.returncode == 0, again.stderr[-3000:]
    assert "3 of 4 trials found, 2 done, 1 to resume, 1 to start" in again.stdout + again.stderr
    assert sorted(p.name for p in sweep_dir.iterdir() if p.is_dir()) == ["0", "1", "2", "3"]  # none duplicated
    for run in ("0", "1", "2", "3"):
        assert json.loads((sweep_dir / run / "result.json").read_text())["status"] == "ok"
        events = read_events(sweep_dir / run)  # each run is its own TensorBoard run, with HParams
        assert "_hparams_/session_start_info" in events.PluginTagToContent("hparams")
    resumed = sweep_dir / "2"
    assert list(resumed.glob(".hydra/resume_*/overrides.yaml"))  # continued, not restarted
    steps = [point.step for point in read_events(resumed).Scalars("train/g_loss")]
    assert steps == sorted(set(steps)) and steps[-1] == 8 and len(list((resumed / "tensorboard").glob("events*"))) == 2

    # The summary: every run best first, and each setting's mean ± std over its two seeds.
    runs = csv_rows(sweep_dir / "summary.csv")
    fids = [float(row["val/fid"]) for row in runs]
    assert len(runs) == 4 and fids == sorted(fids)
    groups = csv_rows(sweep_dir / "summary_by_setting.csv")
    assert [g["n"] for g in groups] == ["2", "2"] and float(groups[0]["val/fid mean"]) <= float(
        groups[1]["val/fid mean"]
    )
    for group in groups:
        values = [json.loads((sweep_dir / r / "result.json").read_text())["objective"] for r in group["runs"].split()]
        assert float(group["val/fid mean"]) == pytest.approx(statistics.fmean(values), rel=1e-3)
        assert float(group["std"]) == pytest.approx(statistics.stdev(values), rel=0.05, abs=1e-3)
        assert "seed" not in group["setting"] and group["setting"].startswith("model.g_optimizer.lr=")
    assert is_image(sweep_dir / "summary.png")
    markdown = (sweep_dir / "summary.md").read_text()
    assert markdown in again.stdout  # printed too
    # each table under its own header: a row per run, then a row per setting
    tables = [line for line in markdown.splitlines() if line.startswith("| run |") or line.startswith("| rank |")]
    assert [t.split("|")[1].strip() for t in tables] == ["run", "rank"]
    assert tables[0].startswith("| run | status | val/fid | iterations |")
    rebuilt = subprocess.run(
        [sys.executable, "-m", "gan_lightning.sweep", str(sweep_dir)], capture_output=True, text=True
    )
    assert rebuilt.returncode == 0 and rebuilt.stdout.strip() == markdown.strip()

    # The summary's resume line, as printed, continues the best run with its own settings.
    (line,) = [line for line in markdown.splitlines() if line.startswith("Resume it: gan-train ")]
    best = Path(line.split("ckpt_path=")[1])
    longer = run_gan_train(tmp_path, *line.removeprefix("Resume it: gan-train ").split(), "trainer.max_steps=10")
    assert longer.returncode == 0, longer.stderr[-3000:]
    assert "trainer.max_steps 8 -> 10" in longer.stdout + longer.stderr
    assert torch.load(best / "checkpoints" / "last.ckpt", weights_only=True)["global_step"] == 10


@pytest.mark.slow
def test_failed_runs_are_recorded_and_the_sweep_goes_on(tmp_path):
    poison = ["+callbacks.poison._target_=tests.test_hardening.PoisonGenerator", "+callbacks.poison.step=2,100"]
    guard = "callbacks.divergence_guard.every_n_steps=1"
    # The loss-based objective, which needs no scoring (docs/sweeps.md: the objective).
    gap = ["optimized_metric=train/equilibrium_gap", "callbacks.sample_quality=null"]
    result = run_gan_train(tmp_path, "-m", "data.batch_size=0,64", *poison, guard, *gap, *TINY)
    assert result.returncode == 0, result.stderr[-3000:]
    rows = csv_rows(the_sweep(tmp_path) / "summary.csv")
    assert [row["status"] for row in rows] == ["ok", "failed", "failed", "failed"]
    ok = json.loads((the_sweep(tmp_path) / rows[0]["run"] / "result.json").read_text())
    assert ok["objective_name"] == "train/equilibrium_gap" and "val/fid" not in ok["metrics"]
    assert 0 < ok["objective"] == ok["metrics"]["train/equilibrium_gap"]
    assert "+callbacks.poison.step=100" in rows[0]["overrides"] and "data.batch_size=64" in rows[0]["overrides"]
    errors = sorted(row["error"] for row in rows[1:])
    assert errors[0].startswith("data.batch_size=0: must be an integer, at least 1")
    assert errors[2].startswith("step 3: train/d_loss is nan")


@pytest.mark.slow
def test_a_tpe_study_prunes_a_diverging_learning_rate(tmp_path):
    search = [
        "-m",
        "hparams_search=optuna",
        "hydra.sweeper.n_trials=4",
        "hydra.sweeper.seed=2",  # TPE's random start-up picks 2e-4, 2e-4, 2e-4, then 0.5
        "hydra.sweeper.pruner=median",
        "+hydra.sweeper.pruner_args.n_startup_trials=3",
        "hydra.sweeper.params=null",  # only G's learning rate, from the command line:
        "model.g_optimizer.lr=choice(0.0002,0.5)",
    ]
    budget = ["trainer.max_epochs=2", "+trainer.limit_train_batches=5", "callbacks.sample_quality.num_samples=300"]
    result = run_gan_train(tmp_path, *search, *budget, "data.download=false", "trainer.enable_progress_bar=false")
    assert result.returncode == 0, result.stderr[-3000:]
    sweep_dir = the_sweep(tmp_path)
    runs = {row["run"]: row for row in csv_rows(sweep_dir / "summary.csv")}
    assert len(runs) == 4 and not [r for r in runs.values() if r["status"] == "failed"]
    (pruned,) = [r for r in runs.values() if r["status"] == "pruned"]
    assert "model.g_optimizer.lr=0.5" in pruned["overrides"] and pruned["epochs"] == "1"
    assert json.loads((sweep_dir / pruned["run"] / "result.json").read_text())["epochs"] == 1
    stopped = torch.load(sweep_dir / pruned["run"] / "checkpoints" / "last.ckpt", weights_only=True)
    assert stopped["global_step"] == 5  # a clean checkpoint at the end of its first epoch
    for picture in ("summary.png", "optuna_history.png", "optuna_slice.png"):
        assert is_image(sweep_dir / picture)


class StandInLauncher:
    """Trains nothing: writes each job's result.json as its run would, the objective a function
    of its learning rate and seed."""

    def __init__(self, sweep_dir: Path) -> None:
        self.sweep_dir, self.jobs = sweep_dir, []

    def launch(self, jobs: list[list[str]], initial_job_idx: int) -> list[None]:
        for job in jobs:
            self.jobs.append(job)
            values = dict(override.split("=", 1) for override in job)
            run_dir = self.sweep_dir / values["hydra.sweep.subdir"]
            run_dir.mkdir(parents=True)
            value = 1000 * float(values["model.g_optimizer.lr"]) + int(values["seed"])
            overrides = [o for o in job if not o.startswith("hydra.")]
            metrics = {"val/fid": value, "val/modes": float(values["seed"]), "iterations": 10.0}
            write_result(run_dir, overrides, metrics, value, "", "val/fid")
        return [None] * len(jobs)


def sweep_config(sweep_dir: Path, seeds: int | None) -> OmegaConf:
    """What the sweeper reads of a sweep's config; its runs rank by a loss they all log."""
    hydra = {"sweep": {"dir": str(sweep_dir)}, "launcher": {}}
    return OmegaConf.create(
        {"hydra": hydra, "trainer": {}, "sweep": {"seeds": seeds}, "optimized_metric": "train/d_loss"}
    )


# The samplers, and the other storage and pruner docs/sweeps.md offers (an SQLite file, successive halving).
SETUPS = {"tpe": ("tpe", False, "none"), "grid": ("grid", False, "none"), "random-sqlite": ("random", True, "sh")}


@pytest.mark.parametrize("sampler, sqlite, pruner", SETUPS.values(), ids=SETUPS.keys())
def test_sweep_seeds_runs_every_setting_on_each_seed_and_a_rerun_has_nothing_left(tmp_path, sampler, sqlite, pruner):
    space = "1e-4,2e-4" if sampler == "grid" else "tag(log,interval(1e-5,1e-2))"
    storage = f"sqlite:///{tmp_path}/study.db" if sqlite else None
    pruner = "successive_halving" if pruner == "sh" else pruner
    conf = GanLightningSweeperConf(sampler=sampler, n_trials=None if sampler == "grid" else 5, storage=storage)
    conf.pruner = pruner
    options = OmegaConf.structured(conf)
    launcher = StandInLauncher(tmp_path)
    Sweep(options, sweep_config(tmp_path, seeds=3), launcher).run([f"model.g_optimizer.lr={space}", "debug=limit"])
    assert len(launcher.jobs) == 6  # two settings, three seeds each (5 trials round up to whole settings)
    groups = csv_rows(tmp_path / "summary_by_setting.csv")
    assert [g["n"] for g in groups] == ["3", "3"]
    for group in groups:  # each setting ran with seeds 0, 1 and 2, and the std is theirs
        seeds = sorted(
            json.loads((tmp_path / r / "result.json").read_text())["overrides"][-1] for r in group["runs"].split()
        )
        assert seeds == ["seed=0", "seed=1", "seed=2"] and float(group["std"]) == pytest.approx(1.0)
        # every other metric's mean and std over the seeds too (here each run's seed: 0, 1, 2)
        assert float(group["val/modes mean"]) == 1.0 and float(group["val/modes std"]) == 1.0
    assert all("debug=limit" in job for job in launcher.jobs)

    again = StandInLauncher(tmp_path)
    Sweep(options, sweep_config(tmp_path, seeds=3), again).run([f"model.g_optimizer.lr={space}", "debug=limit"])
    assert again.jobs == []  # every trial done: nothing runs twice
    study = load_study(tmp_path)  # where the study lives, with its pruner, as a run reaches it
    assert len(study.trials) == 6 and type(study.pruner).__name__ == {"none": "NopPruner"}.get(
        pruner, "SuccessiveHalvingPruner"
    )
    assert (tmp_path / "study.db").is_file() == sqlite and (tmp_path / "optuna.journal").is_file() != sqlite
    with pytest.raises(UserError, match="holds a sweep of .* continue it with its own command"):
        Sweep(options, sweep_config(tmp_path, seeds=3), again).run(["model.g_optimizer.lr=5e-4,6e-4"])


def test_a_second_sweeper_in_the_same_directory_is_refused(tmp_path):
    options = OmegaConf.structured(GanLightningSweeperConf(sampler="grid"))
    first = RunLock(tmp_path)
    first.acquire()  # a sweeper at work there (in another process, as a user starts it)
    try:
        with pytest.raises(UserError, match="is in use by pid"):
            Sweep(options, sweep_config(tmp_path, seeds=None), StandInLauncher(tmp_path)).run(["seed=0,1"])
    finally:
        first.release()
    assert not list(tmp_path.glob("*/result.json"))  # it ran nothing


def test_a_sweep_with_a_multi_process_trainer_is_one_line(tmp_path):
    result = run_gan_train(tmp_path, "-m", "trainer=ddp_cpu", "model.g_optimizer.lr=1e-4,2e-4", *TINY)
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("error: -m with a multi-process trainer")


@pytest.mark.slow
@pytest.mark.parametrize("launcher", ["joblib", "submitit_local"])
def test_parallel_and_submitit_launchers_run_the_sweep(tmp_path, launcher):
    # joblib: two runs side by side; submitit: one run through it is enough (each is a new process)
    settings = "1e-4,2e-4" if launcher == "joblib" else "1e-4"
    jobs = ["hydra.launcher.n_jobs=2"] if launcher == "joblib" else []
    result = run_gan_train(
        tmp_path, "-m", f"hydra/launcher={launcher}", *jobs, f"model.g_optimizer.lr={settings}", *TINY
    )
    assert result.returncode == 0, result.stderr[-3000:]
    sweep_dir = the_sweep(tmp_path)
    rows = csv_rows(sweep_dir / "summary.csv")
    assert len(rows) == len(settings.split(",")) and all(row["status"] == "ok" for row in rows)
    if launcher == "joblib":  # 2 cores, 2 runs at once: one torch thread each, or less
        logs = [(sweep_dir / r["run"] / "train.log").read_text() for r in rows]
        expected = max(1, (__import__("os").cpu_count() or 1) // 2)
        assert all(f"Runs share this machine: {expected} torch threads" in log for log in logs)


def test_the_slurm_launcher_composes(tmp_path):
    result = run_gan_train(tmp_path, "hydra/launcher=submitit_slurm", "--cfg", "hydra", "--package", "hydra.launcher")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "SlurmLauncher" in result.stdout


def test_summary_png_of_three_parameters_shows_every_setting_best_on_top_by_the_study_direction(tmp_path, monkeypatch):
    """A grid over a network (words), a batch and a learning rate that D's copies, maximized:
    one bar per setting, the highest mean on top, the copied parameter left out."""
    import matplotlib.figure

    from gan_lightning.sweep.summary import summarize

    study = {"study_name": "sweep", "storage": None, "sampler": "grid", "direction": "maximize", "pruner": "none"}
    (tmp_path / "study.json").write_text(json.dumps(study))
    objectives = {("dcgan", 64, "2e-4"): 0.30, ("dcgan", 128, "4e-4"): 0.10, ("resnet", 64, "4e-4"): 0.20}
    for i, ((network, batch, lr), value) in enumerate(objectives.items()):
        overrides = [f"model.d_optimizer.lr={lr}", f"model={network}", f"data.batch_size={batch}"]
        overrides += [f"model.g_optimizer.lr={lr}", "seed=0"]
        (tmp_path / str(i)).mkdir()
        write_result(tmp_path / str(i), overrides, {"val/confident": value}, value, "", "val/confident")
    drawn = []
    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", lambda figure, *a, **k: drawn.append(figure))
    summarize(tmp_path)
    (figure,) = drawn
    labels = [label.get_text() for label in figure.axes[0].get_yticklabels()]
    assert labels[::-1] == [  # barh draws from the bottom: the top bar is the last label
        "model=dcgan data.batch_size=64 model.g_optimizer.lr=2e-4",
        "model=resnet data.batch_size=64 model.g_optimizer.lr=4e-4",
        "model=dcgan data.batch_size=128 model.g_optimizer.lr=4e-4",
    ]
    assert "higher is better" in figure.axes[0].get_xlabel()
