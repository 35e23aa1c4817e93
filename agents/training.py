"""Train an SB3 agent on MusicRec-v0 (`agents.benchmark` then judges it in several worlds).

A run folder `runs/{env_id}__{exp_name}__{seed}__{time}/` holds `model.zip` (SB3), `run.json`
(the env and training configs, to rebuild both, and the catalog's checksum), `tensorboard/`,
`checkpoints/`, `eval/` (periodic evaluation on validation sessions) and `results.*`.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Literal

from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback, CheckpointCallback, EvalCallback
from stable_baselines3.common.vec_env import VecMonitor
from tqdm.auto import tqdm

from agents.algorithms import algorithm_class
from agents.policy import make_agent
from agents.vec_env import SB3VecEnv
from musicgym.artifacts import atomic_path, write_text
from musicgym.envs import ENV_ID
from musicgym.envs.config import EnvConfig
from musicgym.threads import training_numerics
from musicgym.version import __version__


@dataclass(frozen=True)
class TrainConfig:
    """What `train` runs: algorithm, preset, noise, budget, envs, evaluation and folders."""

    algo: Literal["ddpg", "td3", "sac"] = "ddpg"
    preset: Literal["tuned", "musicbox"] = "tuned"
    noise: Literal["gaussian", "ou"] = "gaussian"
    noise_sigma: float = 0.2
    timesteps: int = 240_000
    num_envs: int = 32
    """Sessions stepped together. With one gradient step per vector step, more envs give the
    critic more (and fresher) transitions per update at nearly the same cost: on the real
    sample 32 envs x 240k steps beat 8 envs x 60k by about 0.08 listened rate in the same
    wall time (NOTES.md)."""
    eval_freq: int = 20_000
    eval_episodes: int = 64
    checkpoint_freq: int = 40_000
    runs_dir: Path = Path("runs")
    exp_name: str = "ddpg"
    seed: int = 0
    progress: bool = True
    torch_threads: int = 1
    """Small networks on a busy 2-core machine train far faster on one thread."""

    def __post_init__(self) -> None:
        algorithm_class(self.algo)
        for name in ("timesteps", "num_envs", "eval_freq", "eval_episodes", "checkpoint_freq"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} ({getattr(self, name)}) must be at least 1")


class TqdmCallback(BaseCallback):
    """A tqdm progress bar over environment steps, with the latest mean reward."""

    def __init__(self, total: int, enabled: bool = True) -> None:
        super().__init__()
        self.bar = tqdm(total=total, unit="step", desc="training", disable=not enabled)

    def _on_step(self) -> bool:
        self.bar.update(self.training_env.num_envs)
        return True

    def _on_training_end(self) -> None:
        self.bar.close()


def run_folder(config: TrainConfig) -> Path:
    """Create and return a new run folder `{env_id}__{exp_name}__{seed}__{unix time}`.

    Two runs started in the same second get `-1`, `-2`, ... suffixes instead of colliding.
    """
    base = f"{ENV_ID}__{config.exp_name}__{config.seed}__{int(time.time())}"
    Path(config.runs_dir).mkdir(parents=True, exist_ok=True)
    for attempt in range(1000):
        folder = Path(config.runs_dir) / (base if attempt == 0 else f"{base}-{attempt}")
        try:
            folder.mkdir()
            return folder
        except FileExistsError:
            continue
    raise FileExistsError(f"{config.runs_dir}: could not create a new run folder for {base}")


def save_model(model: BaseAlgorithm, path: Path) -> None:
    """Save an SB3 model as `path` (a .zip), atomically."""
    with atomic_path(path) as tmp, open(tmp, "wb") as stream:
        model.save(stream)


def train(config: TrainConfig, env_config: EnvConfig) -> tuple[BaseAlgorithm, Path]:
    """Train an agent on training sessions, evaluating on validation sessions; save the run."""
    with training_numerics(config.torch_threads):
        return _train(config, env_config)


def _train(config: TrainConfig, env_config: EnvConfig) -> tuple[BaseAlgorithm, Path]:
    run = run_folder(config)
    env_config = replace(env_config, sessions="train")
    # VecMonitor records episode returns for the logs and for EvalCallback
    venv = VecMonitor(SB3VecEnv.make(config.num_envs, **asdict(env_config)))
    venv.seed(config.seed)
    eval_env = VecMonitor(SB3VecEnv.make(config.num_envs,
                                         **asdict(replace(env_config, sessions="validation"))))
    model = make_agent(config.algo, venv, preset=config.preset, noise=config.noise,
                       noise_sigma=config.noise_sigma, seed=config.seed)
    model.tensorboard_log = str(run / "tensorboard")
    per_env = max(config.num_envs, 1)
    callbacks = [
        TqdmCallback(config.timesteps, config.progress),
        EvalCallback(eval_env, eval_freq=max(config.eval_freq // per_env, 1),
                     n_eval_episodes=config.eval_episodes, log_path=str(run / "eval"),
                     best_model_save_path=str(run / "eval"), verbose=0),
        CheckpointCallback(max(config.checkpoint_freq // per_env, 1), str(run / "checkpoints"),
                           name_prefix=config.algo),
    ]
    model.learn(config.timesteps, callback=callbacks)
    save_model(model, run / "model.zip")
    write_run_record(run, config.algo, env_config, asdict(config),
                     model.policy.catalog_checksum)
    return model, run


def write_run_record(run: Path, algo: str, env_config: EnvConfig,
                     train_settings: dict[str, Any], catalog_checksum: str | None) -> None:
    """Write `run.json`: what `Recommender.load` needs to rebuild the agent and its env."""
    record = {"algo": algo, "env": _jsonable(asdict(env_config)),
              "train": _jsonable(train_settings), "catalog_checksum": catalog_checksum,
              "musicgym_version": __version__}
    write_text(run / "run.json", json.dumps(record, indent=2, sort_keys=True))


def _jsonable(values: dict[str, Any]) -> dict[str, Any]:
    return {k: (str(v) if isinstance(v, Path) else v) for k, v in values.items()}
