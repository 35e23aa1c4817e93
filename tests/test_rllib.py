"""MusicRec-v0 under Ray RLlib's new API stack: PPO and SAC, env runners vectorising the env.

The env's arguments travel in RLlib's `env_config`; the env runners are remote Ray actors, so
each imports musicgym, makes the env itself and loads the simulator from the test's cache.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import musicgym.rllib
from musicgym.data.schema import MAX_SESSION_LENGTH
from musicgym.envs.config import EnvArgumentError
from musicgym.envs.music_rec import MusicRecEnv
from musicgym.envs.vector import MusicRecVectorEnv
from musicgym.synthetic.generator import SyntheticConfig, generate


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> str:
    root = tmp_path_factory.mktemp("rllib") / "synthetic"
    return str(generate(SyntheticConfig(n_sessions=400, n_tracks=600, seed=3), root).root)


@pytest.fixture(scope="module")
def ray_session() -> Any:
    ray = pytest.importorskip("ray")
    # the workers get the test's private cache, where the driver's fixtures fitted the env
    # a worker may take minutes to start on a busy machine; Ray's default gives up after 60 s
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env=musicgym.rllib.runtime_env(),
             _system_config={"worker_register_timeout_seconds": 300})
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the learner runs here; its small updates are fastest on one
    yield ray
    torch.set_num_threads(threads)
    ray.shutdown()


def test_env_takes_its_arguments_as_one_mapping(data: str) -> None:
    env = MusicRecEnv({"data": data, "slate_size": 2}, reward="listen")
    assert env.config.slate_size == 2 and env.config.reward == "listen"
    assert env.action_space.shape == (2 * env.dim,)
    with pytest.raises(TypeError, match=r"\['slate_size'\] both in env_config and by keyword"):
        MusicRecEnv({"data": data, "slate_size": 2}, slate_size=3)
    with pytest.raises(EnvArgumentError, match="env_config holds num_envs"):
        MusicRecEnv({"data": data, "num_envs": 4})
    with pytest.raises(EnvArgumentError, match=r"env_config \(a list\) must be a mapping"):
        MusicRecEnv([("data", data)])
    with pytest.raises(EnvArgumentError, match="env_config has the key 2; its keys must be"):
        MusicRecEnv({"data": data, 2: "slate_size"})
    with pytest.raises(TypeError, match=r"unknown argument\(s\) \['slate'\]"):
        MusicRecEnv({"data": data, "slate": 2})


def test_env_takes_rllibs_env_context(data: str) -> None:
    context = pytest.importorskip("ray.rllib.env.env_context")
    ctx = context.EnvContext({"data": data, "slate_size": 3}, worker_index=1, num_workers=2)
    env = MusicRecEnv(ctx)  # what config.environment(MusicRecEnv, env_config=...) does
    assert env.config.slate_size == 3
    assert env.reset(seed=0)[0].shape == env.observation_space.shape


def test_env_config_checks_in_the_driver_and_makes_paths_absolute(
        data: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(Path(data).parent)
    config = musicgym.rllib.env_config(data=Path(data).name, slate_size=2)
    assert config == {"data": data, "slate_size": 2}
    with pytest.raises(EnvArgumentError, match=r"slate_size \(50\) must be an integer from 1"):
        musicgym.rllib.env_config(data=data, slate_size=50)
    with pytest.raises(FileNotFoundError, match="no_such_log"):
        musicgym.rllib.env_config(data=tmp_path / "no_such_log")


def test_make_env_is_the_native_vector_env_when_rllib_asks_for_num_envs(data: str) -> None:
    single = musicgym.rllib.make_env({"data": data, "slate_size": 2})
    assert single.spec.id == "MusicRec-v0" and single.unwrapped.config.slate_size == 2
    vector = musicgym.rllib.make_env({"data": data, "slate_size": 2, "num_envs": 3})
    assert isinstance(vector, MusicRecVectorEnv) and vector.num_envs == 3
    obs, _ = vector.reset(seed=0)
    assert obs.shape == (3, *single.observation_space.shape)


def test_register_env_names_the_extra_when_ray_is_missing(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray.tune.registry", None)  # import fails as if absent
    with pytest.raises(ImportError, match=r'pip install -e "\.\[ray\]"'):
        musicgym.rllib.register_env()
    with pytest.raises(ValueError, match="name"):
        musicgym.rllib.register_env("")


def train(config: Any, iterations: int) -> tuple[list[dict], list[Any]]:
    """Train `iterations` times; the results, and each remote env runner's env and its count."""
    algo = config.build_algo()
    try:
        results = [algo.train() for _ in range(iterations)]
        envs = algo.env_runner_group.foreach_env_runner(
            lambda runner: (type(runner.env.unwrapped).__name__, runner.num_envs),
            local_env_runner=False)
    finally:
        algo.stop()
    return results, envs


def check_episodes(results: list[dict]) -> None:
    """Returns of whole episodes: finite, within [0, tracks a session can still play]."""
    for result in results:
        runners = result["env_runners"]
        low, mean, high = (runners[f"episode_return_{s}"] for s in ("min", "mean", "max"))
        assert math.isfinite(mean) and 0 <= low <= mean <= high <= MAX_SESSION_LENGTH
        assert 1 <= runners["episode_len_mean"] <= MAX_SESSION_LENGTH
        assert runners["num_episodes"] > 0
    # a random-ish policy has some of its tracks listened: returns are not all 0
    assert results[-1]["env_runners"]["episode_return_mean"] > 0.5


def test_ppo_trains_with_native_vector_envs_in_a_remote_runner(
        ray_session: Any, data: str) -> None:
    from ray.rllib.algorithms.ppo import PPOConfig

    name = musicgym.rllib.register_env()
    config = (PPOConfig()
              .environment(name, env_config=musicgym.rllib.env_config(data=data, slate_size=2))
              .env_runners(num_env_runners=1, num_envs_per_env_runner=4,
                           gym_env_vectorize_mode="vector_entry_point")
              .training(train_batch_size_per_learner=256, minibatch_size=64, num_epochs=2)
              .debugging(seed=0))
    results, envs = train(config, iterations=2)
    assert envs == [("MusicRecVectorEnv", 4)]
    check_episodes(results)
    # PPO samples whole rounds of the 4 envs until it has the 256 steps of its batch
    steps = [r["env_runners"]["num_env_steps_sampled_lifetime"] for r in results]
    assert 256 <= steps[0] < 256 + 4 * MAX_SESSION_LENGTH and steps[1] >= 2 * 256
    learner = results[-1]["learners"]["default_policy"]
    assert np.isfinite([learner["policy_loss"], learner["vf_loss"], learner["entropy"]]).all()
    assert learner["num_module_steps_trained"] > 0


def test_sac_trains_on_the_plain_env_id_with_sync_vectorisation(
        ray_session: Any, data: str) -> None:
    from ray.rllib.algorithms.sac import SACConfig

    config = (SACConfig()
              .environment("musicgym:MusicRec-v0", env_config={"data": data, "slate_size": 2})
              .env_runners(num_env_runners=1, num_envs_per_env_runner=2,  # "sync"
                           rollout_fragment_length=16)
              .training(train_batch_size_per_learner=32,
                        num_steps_sampled_before_learning_starts=64,
                        replay_buffer_config={"type": "PrioritizedEpisodeReplayBuffer",
                                              "capacity": 5_000})
              .reporting(min_sample_timesteps_per_iteration=64)
              .debugging(seed=0))
    results, envs = train(config, iterations=2)
    assert envs == [("SyncVectorEnv", 2)]
    check_episodes(results)
    assert results[-1]["env_runners"]["num_env_steps_sampled_lifetime"] >= 2 * 64
    learner = results[-1]["learners"]["default_policy"]
    assert np.isfinite([learner["qf_loss"], learner["policy_loss"], learner["alpha_loss"]]).all()
    assert learner["alpha_value"] > 0
