"""MusicRec-v0: registration, checkers, seeding, actions, decoding, pickling, vector env."""

from __future__ import annotations

import doctest
import os
import pickle
import subprocess
import sys
import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import musicgym
from agents.vec_env import SB3VecEnv
from musicgym.envs import config as env_config
from musicgym.envs import music_rec
from musicgym.envs.vector import MusicRecVectorEnv


@pytest.fixture(scope="module")
def env() -> gym.Env:
    return gym.make("MusicRec-v0")


def rollout(env: gym.Env, seed: int, steps: int) -> tuple[list, list, list]:
    obs, _ = env.reset(seed=seed)
    env.action_space.seed(seed)
    observations, rewards, tracks = [obs], [], []
    for _ in range(steps):
        obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
        observations.append(obs)
        rewards.append(reward)
        tracks.append(info["tracks"])
        if terminated or truncated:
            observations.append(env.reset()[0])
    return observations, rewards, tracks


def test_registered_and_importing_twice_is_safe() -> None:
    musicgym.register_envs()
    assert "MusicRec-v0" in gym.registry
    assert gym.registry["MusicRec-v0"].vector_entry_point is not None


def test_make_from_a_fresh_interpreter(env: gym.Env) -> None:
    code = ("import gymnasium as gym; e = gym.make('musicgym:MusicRec-v0'); "
            "o, _ = e.reset(seed=0); print(o.shape[0])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=os.environ.copy(), check=True)
    assert int(out.stdout.split()[-1]) == env.observation_space.shape[0]


@pytest.mark.parametrize("slate_size", [1, 3])
def test_both_checkers_pass_without_warnings(slate_size: int) -> None:
    env = gym.make("MusicRec-v0", slate_size=slate_size).unwrapped
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_env(env)
        sb3_check_env(env)
    assert [str(w.message) for w in caught] == []


def test_same_seed_same_1000_steps_and_different_seed_differs(env: gym.Env) -> None:
    a = rollout(env, 7, 1000)
    b = rollout(env, 7, 1000)
    np.testing.assert_array_equal(np.array(a[0]), np.array(b[0]))
    assert a[1] == b[1] and a[2] == b[2]
    c = rollout(env, 8, 1000)
    assert a[2] != c[2]


def test_decoding_never_repeats_a_track_in_a_session() -> None:
    env = gym.make("MusicRec-v0", slate_size=3)
    _, info = env.reset(seed=1)
    heard = list(info["history_tracks"])
    for _ in range(400):
        # a constant action: without exclusion it would decode to the same tracks every step
        _, _, _, truncated, info = env.step(np.full(env.action_space.shape, 0.3, np.float32))
        played = [t for t, p in zip(info["tracks"], info["played"], strict=True) if p]
        assert len(set(info["tracks"])) == 3
        assert not set(played) & set(heard)
        heard += played
        if truncated:
            _, info = env.reset()
            heard = list(info["history_tracks"])


SHARED_FIXTURE = [HealthCheck.function_scoped_fixture]


@settings(max_examples=40, deadline=None, suppress_health_check=SHARED_FIXTURE)
@given(data=st.data())
def test_any_bounded_action_gives_a_valid_step(env: gym.Env, data: st.DataObject) -> None:
    shape = env.action_space.shape
    action = data.draw(arrays(np.float32, shape, elements=st.floats(-1, 1, width=32)))
    env.reset(seed=data.draw(st.integers(0, 2**16)))
    obs, reward, terminated, truncated, info = env.step(action)
    assert env.observation_space.contains(obs)
    assert 0.0 <= reward <= 1.0 and terminated is False and isinstance(truncated, bool)


@settings(max_examples=20, deadline=None, suppress_health_check=SHARED_FIXTURE)
@given(value=st.floats(allow_nan=False, allow_infinity=False, min_value=-1e6, max_value=1e6))
def test_out_of_bounds_actions_are_clipped(env: gym.Env, value: float) -> None:
    action = np.full(env.action_space.shape, value, np.float32)
    env.reset(seed=3)
    _, r1, _, _, i1 = env.step(action)
    env.reset(seed=3)
    _, r2, _, _, i2 = env.step(np.clip(action, -1, 1))
    assert i1["tracks"] == i2["tracks"] and r1 == r2


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_actions_raise(env: gym.Env, bad: float) -> None:
    env.reset(seed=0)
    action = np.zeros(env.action_space.shape, np.float32)
    action[0] = bad
    with pytest.raises(ValueError, match="NaN or inf"):
        env.step(action)


def test_wrong_shape_raises(env: gym.Env) -> None:
    env.reset(seed=0)
    with pytest.raises(ValueError, match="expected"):
        env.step(np.zeros(env.action_space.shape[0] + 1, np.float32))


def test_bad_arguments_are_named() -> None:
    with pytest.raises(ValueError, match="slate_size \\(0\\)"):
        gym.make("MusicRec-v0", slate_size=0)
    with pytest.raises(ValueError, match="reward \\('clicks'\\)"):
        gym.make("MusicRec-v0", reward="clicks")
    with pytest.raises(TypeError, match="unknown argument.*'slates'"):
        gym.make("MusicRec-v0", slates=2)
    with pytest.raises(ValueError, match="history_length \\(21\\)"):
        gym.make("MusicRec-v0", history_length=21)


def rewards_of(seed: int, **kwargs) -> list[float]:
    env = gym.make("MusicRec-v0", **kwargs)
    return rollout(env, seed, 25)[1]


def test_old_names_warn_once_and_behave_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(env_config, "_warned", set())
    listened = rewards_of(2, reward="listened")
    assert sum(listened) > 3 and set(listened) <= {0.0, 1.0}
    with pytest.warns(DeprecationWarning, match="'not_skipped' is deprecated.*'listened'"):
        old = rewards_of(2, reward="not_skipped")
    assert old == listened
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert rewards_of(2, reward="not_skipped") == listened  # warned once already
    with pytest.warns(DeprecationWarning, match="'seed' is deprecated.*'simulator_seed'"):
        env = gym.make("MusicRec-v0", seed=0)
    assert env.unwrapped.config.simulator_seed == 0
    assert gym.make("MusicRec-v0").unwrapped.config.reward == "listened"


def test_episode_truncates_at_logged_length(env: gym.Env) -> None:
    _, info = env.reset(seed=4)
    steps, truncated = 0, False
    while not truncated:
        _, _, terminated, truncated, _ = env.step(env.action_space.sample())
        assert not terminated
        steps += 1
    assert steps == info["session_length"] - info["position"] + 1
    with pytest.raises(RuntimeError, match="reset"):
        env.step(env.action_space.sample())


def test_listen_reward_takes_graded_values() -> None:
    env = gym.make("MusicRec-v0", reward="listen")
    env.reset(seed=0)
    rewards = set()
    for _ in range(200):
        _, reward, _, truncated, _ = env.step(env.action_space.sample())
        rewards.add(reward)
        if truncated:
            env.reset()
    assert rewards <= {0.0, 1 / 3, 2 / 3, 1.0} and len(rewards) >= 3


def test_observation_layout_splits_the_parts(env: gym.Env) -> None:
    obs, info = env.reset(seed=5)
    parts = env.unwrapped.layout.split(obs[None])
    h = env.unwrapped.config.history_length
    assert parts["history_embeddings"].shape == (1, h, env.unwrapped.dim)
    heard = min(len(info["history_tracks"]), h)
    assert parts["history_valid"][0].sum() == heard
    np.testing.assert_array_equal(parts["history_outcomes"][0].sum(axis=1),
                                  parts["history_valid"][0])
    assert "| context |" in env.unwrapped.layout.table()


def test_pickle_round_trip_continues_identically(env: gym.Env) -> None:
    env.reset(seed=11)
    clone = pickle.loads(pickle.dumps(env))
    action = np.full(env.action_space.shape, -0.2, np.float32)
    a = env.step(action)
    b = clone.step(action)
    np.testing.assert_array_equal(a[0], b[0])
    assert a[1:4] == b[1:4] and a[4]["tracks"] == b[4]["tracks"]
    env.close()
    env.close()


def test_nearest_tracks_are_sorted_by_distance(env: gym.Env) -> None:
    proto = np.zeros(env.unwrapped.dim, np.float32)
    ids, vectors = env.unwrapped.nearest_tracks(proto, 5)
    d = np.linalg.norm(vectors - proto, axis=1)
    assert len(ids) == 5 and np.all(np.diff(d) >= 0)


def test_docstring_example_runs() -> None:
    result = doctest.testmod(music_rec, verbose=False)
    assert result.attempted >= 4 and result.failed == 0


def test_vector_env_autoresets_next_step() -> None:
    vec = gym.make_vec("MusicRec-v0", num_envs=16, vectorization_mode="vector_entry_point")
    assert isinstance(vec, MusicRecVectorEnv)
    obs, _ = vec.reset(seed=0)
    assert obs.shape == (16, vec.single_observation_space.shape[0])
    ended = np.zeros(16, bool)
    for _ in range(25):
        obs, reward, terminated, truncated, info = vec.step(vec.action_space.sample())
        assert not terminated.any()
        # a session that ended on the previous step was reset now: no reward, not stepped
        assert (reward[ended] == 0).all() and not info["_tracks"][ended].any()
        ended = truncated
    assert vec.observation_space.contains(obs)


def test_vector_env_matches_single_env_distribution() -> None:
    """Random policy: mean reward per step and steps per episode agree within noise."""
    single = gym.make("MusicRec-v0")
    single.reset(seed=0)
    single.action_space.seed(0)
    rewards, lengths, steps = [], [], 0
    while len(lengths) < 400:
        _, reward, _, truncated, _ = single.step(single.action_space.sample())
        rewards.append(reward)
        steps += 1
        if truncated:
            lengths.append(steps)
            steps = 0
            single.reset()
    vec = gym.make_vec("MusicRec-v0", num_envs=64, vectorization_mode="vector_entry_point")
    vec.reset(seed=1)
    vec.action_space.seed(1)
    v_rewards, v_lengths, v_steps = [], [], np.zeros(64, int)
    for _ in range(120):
        _, reward, _, truncated, info = vec.step(vec.action_space.sample())
        stepped = info["_tracks"]
        v_rewards += reward[stepped].tolist()
        v_steps += stepped
        v_lengths += v_steps[truncated].tolist()
        v_steps[truncated] = 0
    se = np.sqrt(0.25 / len(rewards) + 0.25 / len(v_rewards))
    assert abs(np.mean(rewards) - np.mean(v_rewards)) < 4 * se
    assert abs(np.mean(lengths) - np.mean(v_lengths)) < 0.6


def test_same_step_autoreset_reports_the_final_observation() -> None:
    vec = MusicRecVectorEnv(num_envs=8, autoreset_mode="SameStep")
    vec.reset(seed=0)
    vec.action_space.seed(0)
    ended = 0
    for _ in range(25):
        obs, reward, _, truncated, info = vec.step(vec.action_space.sample())
        assert info["_tracks"].all()  # no step is spent on a reset
        if truncated.any():
            ended += int(truncated.sum())
            final = vec.layout.split(info["final_obs"][truncated])["position"]
            np.testing.assert_allclose(final[:, 1], 0.0)  # no tracks left
            fresh = vec.layout.split(obs[truncated])["position"]
            assert (fresh[:, 1] > 0).all()
    assert ended > 0


def test_sb3_adapter_trains_and_reports_terminal_observations() -> None:
    from stable_baselines3 import DDPG

    venv = SB3VecEnv(MusicRecVectorEnv(num_envs=4))
    venv.seed(0)
    obs = venv.reset()
    assert obs.shape == (4, venv.observation_space.shape[0])
    seen_terminal = False
    for _ in range(15):
        venv.step_async(np.stack([venv.action_space.sample() for _ in range(4)]))
        _, rewards, dones, infos = venv.step_wait()
        assert rewards.dtype == np.float32
        for done, info in zip(dones, infos, strict=True):
            if done:
                seen_terminal = True
                assert info["TimeLimit.truncated"] and "terminal_observation" in info
    assert seen_terminal
    model = DDPG("MlpPolicy", venv, learning_starts=32, batch_size=16, seed=0)
    model.learn(64)
