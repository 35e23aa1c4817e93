"""Train an SB3 agent on MusicRec-v0 (`agents.benchmark` then judges it in several worlds).

A run folder `runs/{env_id}__{exp_name}__{seed}__{time}/` holds:

- `policy.pt`: the final policy's weights, a torch state dict of tensors only. This is what
  `load_policy`, `Recommender.load` and `musicgym recommend` load.
- `run.json`: the env and training configs, the policy's class, arguments and spaces, the
  catalog's checksum and `policy.pt`'s sha256.
- `model.zip`: the final SB3 model with its optimizers, to continue training (`resume`).
- `eval/`: `evaluations.npz` (the validation reward during training) and `best_model.zip` (the
  SB3 model of the best evaluation).
- `tensorboard/`: training curves (`tensorboard --logdir RUN/tensorboard`).
- `checkpoints/`: periodic SB3 models, only with `checkpoint_freq` (default: none).
- `results.*`: the benchmark that `musicgym train` runs after training.

Loading `policy.pt` with `run.json` cannot run code: the weights are read with
`torch.load(weights_only=True)` after their checksum is verified, and the networks are rebuilt
from JSON. SB3's own `.load` of a zip unpickles some fields with cloudpickle, which can run
any code: use it (and `resume`) only on run folders you made or trust.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any, Literal

from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback, CheckpointCallback, EvalCallback
from stable_baselines3.common.vec_env import VecMonitor
from tqdm.auto import tqdm

from agents.algorithms import ALGORITHMS, algorithm_class
from agents.policy import NOISES, PRESETS, make_agent, policy_description, rebuild_policy
from agents.vec_env import SB3VecEnv
from musicgym.artifacts import (
    CorruptArtifactError,
    atomic_path,
    file_sha256,
    jsonable,
    read_json,
    verify_files,
    write_json,
)
from musicgym.device import resolve_device
from musicgym.envs import ENV_ID
from musicgym.envs.config import EnvConfig
from musicgym.threads import training_numerics
from musicgym.version import __version__

GENERATED_TASTE_PRIOR = 16.0
"""The taste prior `data_defaults` picks for DDPG and TD3 on data made by the generator."""
LOGGED_TEACHER = 2.0
"""The greedy teacher's weight `data_defaults` picks for DDPG and TD3 on logged data."""
LOGGED_SUPPORT_PENALTY = 1.0
"""The support penalty κ `data_defaults` picks for DDPG and TD3 on logged data."""
LOGGED_CONCENTRATION_PENALTY = 0.0
"""The concentration penalty β `data_defaults` picks for DDPG and TD3 on logged data."""
LOGGED_TEACHER_TASTE = 0.075
"""The teacher's taste weight η `data_defaults` picks for DDPG and TD3 on logged data."""

POLICY_FILE = "policy.pt"
RUN_FORMAT = 2
"""Version of `run.json`; 1 (no `policy.pt`) could only be loaded by unpickling model.zip."""


@dataclass(frozen=True)
class TrainConfig:
    """What `train` runs: algorithm, preset, noise, budget, envs, evaluation and folders."""

    algo: Literal["ddpg", "td3", "sac"] = "ddpg"
    preset: Literal["tuned", "musicbox"] = "tuned"
    noise: Literal["gaussian", "ou", "none"] = "gaussian"
    noise_sigma: float = 0.2
    taste_prior: float = 0.0
    """DDPG and TD3: how strongly the actor starts from the session's taste direction, the
    mean vector of its listened tracks (`agents.policy.RecActor`); 0: not at all."""
    teacher: float = 0.0
    """DDPG and TD3: weight of the training world's greedy teacher, whose best tracks the
    actor also learns to decode to (`agents.algorithms`); 0: no teacher."""
    teacher_taste: float = 0.0
    """DDPG and TD3 with a teacher: weight of the listener's taste (cosine to the session's
    taste vector) in the teacher's ranking, so each listener is taught near-best tracks nearest
    their taste (`agents.algorithms`); 0: the teacher ranks by the reward alone."""
    timesteps: int = 240_000
    num_envs: int = 32
    """Sessions stepped together. With one gradient step per vector step, more envs give the
    critic more (and fresher) transitions per update at nearly the same cost: on the real
    sample 32 envs x 240k steps beat 8 envs x 60k by about 0.08 listened rate in the same
    wall time (NOTES.md)."""
    eval_freq: int = 20_000
    """Steps between evaluations on validation sessions (printed, and the best model kept)."""
    eval_episodes: int = 64
    checkpoint_freq: int = 0
    """Steps between SB3 checkpoints in `checkpoints/` (several MB each); 0: none."""
    runs_dir: Path = Path("runs")
    exp_name: str = "ddpg"
    seed: int = 0
    progress: bool = True
    torch_threads: int = 1
    """Small networks on a busy 2-core machine train far faster on one thread."""
    device: str | None = None
    """Where the agent's networks train: "auto" (a GPU when torch sees one), "cpu", "cuda" or
    "cuda:N"; None reads $MUSICGYM_DEVICE, else "auto" (`musicgym.device`). The env stays on
    CPU numpy either way."""

    def __post_init__(self) -> None:
        algorithm_class(self.algo)
        if self.preset not in PRESETS:
            raise ValueError(f"preset ({self.preset!r}) must be one of {tuple(PRESETS)}")
        if self.noise not in NOISES:
            raise ValueError(f"noise ({self.noise!r}) must be one of {NOISES}")
        if not (math.isfinite(self.noise_sigma) and self.noise_sigma >= 0):
            raise ValueError(f"noise_sigma ({self.noise_sigma}) must be a number >= 0")
        if not (math.isfinite(self.taste_prior) and self.taste_prior >= 0):
            raise ValueError(f"taste_prior ({self.taste_prior}) must be a number >= 0")
        if self.taste_prior > 0 and self.algo == "sac":
            raise ValueError("taste_prior is for DDPG and TD3 (SAC's actor is SB3's own); "
                             "leave it at 0 with algo='sac'")
        if not (math.isfinite(self.teacher) and self.teacher >= 0):
            raise ValueError(f"teacher ({self.teacher}) must be a number >= 0")
        if self.teacher > 0 and self.algo == "sac":
            raise ValueError("teacher is for DDPG and TD3 (SAC's actor samples its actions); "
                             "leave it at 0 with algo='sac'")
        if not (math.isfinite(self.teacher_taste) and self.teacher_taste >= 0):
            raise ValueError(f"teacher_taste ({self.teacher_taste}) must be a number >= 0")
        if self.teacher_taste > 0 and self.teacher == 0:
            raise ValueError(f"teacher_taste ({self.teacher_taste}) shapes the teacher's "
                             "ranking, and teacher is 0: set teacher > 0 or leave "
                             "teacher_taste at 0")
        for name in ("timesteps", "num_envs", "eval_freq", "eval_episodes", "torch_threads"):
            _check_int(name, getattr(self, name), 1)
        _check_int("checkpoint_freq", self.checkpoint_freq, 0)
        _check_int("seed", self.seed, 0)
        resolve_device(self.device)
        name = self.exp_name
        if not name or "/" in name or "\\" in name or name.startswith("."):
            raise ValueError(f"exp_name ({name!r}) becomes part of a folder name: give a "
                             "non-empty name without '/' or '\\' that does not start with '.'")


@dataclass(frozen=True)
class DataDefaults:
    """What `musicgym train` and `benchmark` use for the flags left at "auto", and why.

    The fields are named as the flags' `argparse` destinations (`--taste-prior` is
    `taste_prior`); `why` says what the data are.
    """

    taste_prior: float
    decoding: str
    why: str
    teacher: float = 0.0
    teacher_taste: float = 0.0
    support_penalty: float = 0.0
    concentration_penalty: float = 0.0
    ensemble_resample: str = "bootstrap"
    held_out_world: str = "one_fit"

    def flags(self) -> dict[str, Any]:
        """Flag destination -> value, for every flag the data choose."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "why"}


def data_defaults(dataset: Any, algo: str = "ddpg") -> DataDefaults:
    """What the measurements chose for these data (README, Worlds; NOTES.md).

    On data made by the generator (`musicgym generate` and the default set) the track vectors
    come from features built in the users' own taste space: item-kNN is the best simple
    recommender for the true users there, and DDPG with a taste prior of 16 and "cosine"
    decoding scored 0.458 with them against 0.352 without (5 seeds, `musicgym benchmark
    --seeds 5` with and without `--taste-prior 0 --decoding dot`). There the worlds stay as
    they were measured (bootstrap members, one fit of B) and no teacher: greedy-by-A, the
    teacher, scored 0.368 with the true users against DDPG's 0.458.

    On logged data (the real sample: co-occurrence vectors, whose length carries popularity)
    the prior and "cosine" each lowered DDPG's held-out score (0.511 and 0.523 against 0.626),
    so both stay off. There the training world's members are jackknife fits, the held-out
    world is built as the training world, and DDPG and TD3 learn from the greedy teacher
    (`LOGGED_TEACHER`) under pessimism (`LOGGED_SUPPORT_PENALTY`) that also ranks by the
    listener's taste (`LOGGED_TEACHER_TASTE`): with these DDPG beat every baseline and
    greedy-by-A in the held-out world at coverage 0.05 (README, Worlds; without the taste term
    and at weight 1 it scored 0.02 higher there but reached only 0.038 of the catalog). The
    concentration penalty (`LOGGED_CONCENTRATION_PENALTY`) stays 0: a teacher that ranked by
    it spread greedy's picks, not DDPG's (NOTES.md). SAC has no taste prior (its actor is
    SB3's own) and no teacher, and keeps "dot" decoding.

    :param dataset: the prepared dataset the agent trains on
    :param algo: the algorithm
    """
    from musicgym.synthetic.dataset import synthetic_root

    if synthetic_root(dataset) is None:
        worlds = {"ensemble_resample": "jackknife", "held_out_world": "as_trained"}
        if algo == "sac":
            return DataDefaults(0.0, "dot", "logged data, SAC: no taste prior, dot decoding, "
                                            "jackknife worlds, no teacher", **worlds)
        return DataDefaults(0.0, "dot", "logged data: no taste prior, dot decoding, jackknife "
                                        "worlds, the greedy teacher under pessimism and taste",
                            teacher=LOGGED_TEACHER, support_penalty=LOGGED_SUPPORT_PENALTY,
                            concentration_penalty=LOGGED_CONCENTRATION_PENALTY,
                            teacher_taste=LOGGED_TEACHER_TASTE, **worlds)
    if algo == "sac":
        return DataDefaults(0.0, "dot", "generated data, but SAC has no taste prior: dot "
                                        "decoding")
    return DataDefaults(GENERATED_TASTE_PRIOR, "cosine",
                        f"generated data: taste prior {GENERATED_TASTE_PRIOR:g}, cosine decoding")


def _check_int(name: str, value: Any, least: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise ValueError(f"{name} ({value!r}) must be an integer >= {least}")


class TrainingProgress(BaseCallback):
    """A tqdm progress bar over environment steps, with the latest evaluation as its postfix."""

    def __init__(self, total: int, enabled: bool = True) -> None:
        super().__init__()
        self.bar = tqdm(total=total, unit="step", desc="training", disable=not enabled)

    def _on_step(self) -> bool:
        self.bar.update(self.training_env.num_envs)
        return True

    def _on_training_end(self) -> None:
        self.bar.close()


class EvaluationReport(BaseCallback):
    """After each evaluation, a line with the mean validation reward (and the bar's postfix).

    Runs as `EvalCallback(callback_after_eval=...)`, whose results it reads as `parent`.
    """

    def __init__(self, progress: TrainingProgress) -> None:
        super().__init__()
        self.progress = progress

    def _on_step(self) -> bool:
        last, best = self.parent.last_mean_reward, self.parent.best_mean_reward
        self.progress.bar.set_postfix({"eval": f"{last:.3f}", "best": f"{best:.3f}"})
        tqdm.write(f"evaluation at step {self.num_timesteps:,}: mean session reward {last:.3f} "
                   f"on validation sessions (best {best:.3f})")
        return True


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


def train(config: TrainConfig, env_config: EnvConfig,
          resume_from: str | Path | None = None) -> tuple[BaseAlgorithm, Path]:
    """Train an agent on training sessions, evaluating on validation sessions; save the run.

    :param resume_from: an SB3 model.zip to continue training instead of a new agent (SB3
        unpickles parts of it: only a file you trust)
    """
    with training_numerics(config.torch_threads):
        return _train(config, env_config, resume_from)


def _train(config: TrainConfig, env_config: EnvConfig,
           resume_from: str | Path | None) -> tuple[BaseAlgorithm, Path]:
    env_config = replace(env_config, sessions="train")
    # VecMonitor records episode returns for the logs and for EvalCallback
    venv = VecMonitor(SB3VecEnv.make(config.num_envs, **asdict(env_config)))
    venv.seed(config.seed)
    eval_env = VecMonitor(SB3VecEnv.make(config.num_envs,
                                         **asdict(replace(env_config.unpenalized(),
                                                          sessions="validation"))))
    device = resolve_device(config.device)
    if resume_from is None:
        extra: dict[str, Any] = ({"policy_kwargs": {"taste_prior": config.taste_prior}}
                                 if config.taste_prior else {})
        if config.teacher:
            extra["teacher_weight"] = config.teacher
        if config.teacher_taste:
            extra["teacher_taste"] = config.teacher_taste
        model = make_agent(config.algo, venv, preset=config.preset, noise=config.noise,
                           noise_sigma=config.noise_sigma, seed=config.seed, device=device,
                           **extra)
    else:
        model = algorithm_class(config.algo).load(resume_from, env=venv, device=device)
    run = run_folder(config)  # only once everything it needs has been built
    model.tensorboard_log = str(run / "tensorboard")
    per_env = config.num_envs
    # SB3 steps num_envs at a time: the last vector step may pass `timesteps`
    progress = TrainingProgress(-(-config.timesteps // config.num_envs) * config.num_envs,
                                config.progress)
    callbacks: list[BaseCallback] = [
        progress,
        EvalCallback(eval_env, eval_freq=max(config.eval_freq // per_env, 1),
                     n_eval_episodes=config.eval_episodes, log_path=str(run / "eval"),
                     best_model_save_path=str(run / "eval"), verbose=0,
                     callback_after_eval=EvaluationReport(progress)),
    ]
    if config.checkpoint_freq > 0:
        callbacks.append(CheckpointCallback(max(config.checkpoint_freq // per_env, 1),
                                            str(run / "checkpoints"), name_prefix=config.algo))
    model.learn(config.timesteps, callback=callbacks,
                reset_num_timesteps=resume_from is None)
    save_model(model, run / "model.zip")
    write_run_files(run, model, env_config, asdict(config))
    return model, run


def resume(run_dir: str | Path, timesteps: int, **changes: Any) -> tuple[BaseAlgorithm, Path]:
    """Continue training the run in `run_dir` for `timesteps` steps, into a new run folder.

    Reads `run_dir`'s configs and its SB3 `model.zip`: SB3 unpickles parts of that file, which
    can run code, so resume only runs you made or trust.

    :param changes: `TrainConfig` fields to change (num_envs, eval_freq, runs_dir, ...)
    """
    run_dir = Path(run_dir)
    record = read_run_record(run_dir)
    known = {f.name for f in fields(TrainConfig)}
    settings = {k: v for k, v in record["train"].items() if k in known}
    settings.update({"runs_dir": Path(settings.get("runs_dir", "runs")),
                     "timesteps": timesteps, **changes})
    env_config = EnvConfig.from_kwargs(**record["env"])
    return train(TrainConfig(**settings), env_config, resume_from=run_dir / "model.zip")


def write_run_files(run: Path, model: BaseAlgorithm, env_config: EnvConfig,
                    train_settings: dict[str, Any]) -> None:
    """Write `policy.pt` (weights only) and `run.json`, what `load_policy` reads."""
    import torch

    policy = model.policy
    state = {k: v.detach().cpu().clone() for k, v in policy.state_dict().items()}
    with atomic_path(run / POLICY_FILE) as tmp:
        torch.save(state, tmp)
    algo = next(name for name, cls in ALGORITHMS.items() if isinstance(model, cls))
    record = {"format_version": RUN_FORMAT, "algo": algo, "env": jsonable(asdict(env_config)),
              "train": jsonable(train_settings), "policy": policy_description(policy),
              "catalog_checksum": getattr(policy, "catalog_checksum", None),
              "files": {POLICY_FILE: file_sha256(run / POLICY_FILE)},
              "musicgym_version": __version__}
    write_json(run / "run.json", record)


def read_run_record(run_dir: str | Path) -> dict[str, Any]:
    """The `run.json` of a run folder, with errors that name the file and the fix."""
    run_dir = Path(run_dir)
    path = run_dir / "run.json"
    if not run_dir.is_dir():
        raise FileNotFoundError(f"{run_dir}: no such run folder; pass a folder written by "
                                "`musicgym train` (it prints it)")
    if not path.is_file():
        raise FileNotFoundError(f"{run_dir}: no run.json; pass a run folder written by "
                                "`musicgym train`")
    record = read_json(path)
    if not isinstance(record, dict) or record.get("format_version") != RUN_FORMAT:
        found = record.get("format_version", 1) if isinstance(record, dict) else None
        raise ValueError(f"{path}: run format {found}, this musicgym reads format {RUN_FORMAT} "
                         f"(a weights-only {POLICY_FILE}); older runs hold only SB3's "
                         "model.zip, which musicgym does not load because unpickling it can "
                         "run code: train the agent again with `musicgym train`")
    for key in ("algo", "env", "train", "policy", "files"):
        if not isinstance(record.get(key), str if key == "algo" else dict):
            raise ValueError(f"{path}: the entry {key!r} is missing or malformed; the run "
                             "folder is damaged: copy it again or train again")
    return record


def load_policy(run_dir: str | Path) -> tuple[dict[str, Any], Any]:
    """The `run.json` record and the trained policy of a run folder, on the CPU.

    Nothing here runs code from the folder: `policy.pt` is checked against the sha256 in
    `run.json`, read with `torch.load(weights_only=True)`, and loaded into networks rebuilt
    from `run.json`'s description. `model.zip` is not read.
    """
    import torch

    run_dir = Path(run_dir)
    record = read_run_record(run_dir)
    fix = "the run folder is damaged or was edited: copy it again or train again"
    verify_files(run_dir, {POLICY_FILE: record["files"].get(POLICY_FILE, "")}, fix, "run.json")
    path = run_dir / POLICY_FILE
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - torch raises many types; its hints are unsafe
        raise CorruptArtifactError(f"{path}: not a readable weights file "
                                   f"({type(err).__name__}); {fix}") from None
    try:
        policy = rebuild_policy(record["policy"])
    except ValueError as err:
        raise ValueError(f"{run_dir / 'run.json'}: {err}; {fix}") from None
    try:
        policy.load_state_dict(state)
    except (RuntimeError, TypeError, AttributeError) as err:
        raise CorruptArtifactError(f"{path}: the weights do not fit the networks described in "
                                   f"run.json ({str(err).splitlines()[0]}); {fix}") from None
    policy.set_training_mode(False)
    return record, policy


