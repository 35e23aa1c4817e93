"""The greedy teacher of DDPG/TD3 (`teacher_weight`, `musicgym train --teacher`).

The teacher's tracks of each transition are the training world's myopic best for the state the
action was taken in; cloning steps pull the actor's decoded tracks toward them; a model saves
and loads with its teacher; SAC and bad weights are refused.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
import torch as th
from gymnasium.vector import AutoresetMode
from stable_baselines3 import DDPG

from agents.algorithms import TeacherReplayBuffer
from agents.baselines import GreedyModelAgent
from agents.policy import make_agent
from agents.scoring import greedy_candidates, greedy_scores, greedy_tracks, knn_scores, top_slate
from agents.training import TrainConfig
from musicgym.cli import build_parser
from musicgym.commands.train import _configs
from musicgym.envs.vector import MusicRecVectorEnv
from musicgym.threads import one_torch_thread

SMALL = {"learning_starts": 40, "device": "cpu", "policy_kwargs": {"net_arch": [32, 32]},
         "teacher_weight": 1.0}


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread() -> Iterator[None]:
    with one_torch_thread():  # small networks on shared cores
        yield


@pytest.fixture(scope="module")
def vec() -> MusicRecVectorEnv:
    return MusicRecVectorEnv(num_envs=8, slate_size=2)


@pytest.fixture(scope="module")
def taught(vec: MusicRecVectorEnv) -> DDPG:
    model = make_agent("ddpg", vec, seed=4, **SMALL)
    model.learn(160)  # 20 vector steps: 20 x 8 transitions, 15 training calls
    return model


def test_the_first_transitions_teacher_is_greedy_by_the_training_world(
        vec: MusicRecVectorEnv, taught: DDPG) -> None:
    buffer = taught.replay_buffer
    assert isinstance(buffer, TeacherReplayBuffer) and buffer.pos == 20
    # the same env, reset as the model's first reset was: the state of the first transition
    fresh = MusicRecVectorEnv(8, AutoresetMode.SAME_STEP, **vars(vec.config))
    obs, _ = fresh.reset(seed=4)
    np.testing.assert_array_equal(buffer.observations[0], obs)
    greedy = GreedyModelAgent(seed=0).select(fresh, obs, np.random.default_rng(0))
    np.testing.assert_array_equal(buffer.teacher[0], greedy)
    # every stored transition has one recommendable track per slot, best first
    recommendable = vec.bundle.catalog.recommendable
    assert np.isin(buffer.teacher[:20], recommendable).all()
    p = fresh.sessions.listen_probs(np.repeat(np.arange(8), 2), greedy.reshape(-1))
    assert (p.reshape(8, 2)[:, 0] >= p.reshape(8, 2)[:, 1]).all()
    assert taught.logger.name_to_value["train/teacher_loss"] > 0


def test_cloning_steps_pull_the_actor_to_the_teachers_tracks(vec: MusicRecVectorEnv,
                                                            taught: DDPG) -> None:
    buffer = taught.replay_buffer
    obs = buffer.observations[:20].reshape(-1, buffer.observations.shape[-1])
    teacher = buffer.teacher[:20].reshape(len(obs), -1)

    def agreement() -> float:
        protos = taught.policy.actor(th.as_tensor(obs)).detach().numpy()
        rows, _ = vec.bundle.decoder.decode(protos.reshape(len(obs), 2, -1),
                                             np.full((len(obs), 1), -1))
        return float((rows == teacher).mean())

    before = agreement()
    losses = [taught._teacher_step(64) for _ in range(300)]
    after = agreement()
    assert np.mean(losses[-20:]) < 0.6 * np.mean(losses[:20])
    assert after > before + 0.3, (before, after)  # measured: 0.03 before, 0.50 after


def test_a_taught_model_saves_and_loads_with_its_teacher(taught: DDPG, tmp_path) -> None:
    taught.save(tmp_path / "m.zip")
    loaded = DDPG.load(tmp_path / "m.zip", device="cpu")
    assert loaded.teacher_weight == 1.0 and isinstance(loaded.replay_buffer, TeacherReplayBuffer)
    obs = taught.replay_buffer.observations[0]
    np.testing.assert_array_equal(loaded.predict(obs, deterministic=True)[0],
                                  taught.predict(obs, deterministic=True)[0])


def test_without_a_teacher_nothing_is_taught(vec: MusicRecVectorEnv) -> None:
    model = make_agent("ddpg", vec, seed=4, **{**SMALL, "teacher_weight": 0.0})
    assert type(model.replay_buffer) is not TeacherReplayBuffer
    model.learn(160)
    assert model._teacher is None and model._teacher_rows is None
    assert "train/teacher_loss" not in model.logger.name_to_value
    assert "train/actor_loss" in model.logger.name_to_value  # it did train


def test_bad_teachers_are_refused(vec: MusicRecVectorEnv) -> None:
    with pytest.raises(ValueError, match=r"teacher_weight \(-1"):
        make_agent("ddpg", vec, teacher_weight=-1.0)
    with pytest.raises(ValueError, match=r"teacher_taste \(nan"):
        make_agent("ddpg", vec, teacher_weight=1.0, teacher_taste=float("nan"))
    with pytest.raises(ValueError, match=r"teacher_taste \(0.1\) shapes the teacher's ranking, "
                                         "and teacher_weight is 0"):
        make_agent("ddpg", vec, teacher_taste=0.1)
    with pytest.raises(ValueError, match="teacher_taste .* and teacher is 0"):
        TrainConfig(teacher_taste=0.1)
    with pytest.raises(ValueError, match=r"teacher_taste \(-1"):
        TrainConfig(teacher=1.0, teacher_taste=-1.0)
    with pytest.raises(ValueError, match="teacher_weight is for DDPG and TD3"):
        make_agent("sac", vec, teacher_weight=1.0)
    assert make_agent("td3", vec, seed=1, **SMALL).teacher_weight == 1.0


def test_the_flag_reaches_the_train_config(tmp_path) -> None:
    args = build_parser().parse_args(["train", "--teacher", "2.5", "--teacher-taste", "0.1"])
    train, _ = _configs(args, 0, tmp_path)
    assert isinstance(train, TrainConfig) and (train.teacher, train.teacher_taste) == (2.5, 0.1)
    plain = _configs(build_parser().parse_args(["train"]), 0, tmp_path)[0]
    assert (plain.teacher, plain.teacher_taste) == (0.0, 0.0)


def test_the_taste_weight_adds_each_listeners_taste_to_the_teachers_ranking() -> None:
    env = MusicRecVectorEnv(num_envs=16)
    env.reset(seed=3)
    allowed = env.sessions.allowed()
    scores = greedy_scores(env, greedy_candidates(env))
    knn = knn_scores(env)
    rows = env.bundle.decoder.rows
    np.testing.assert_array_equal(greedy_tracks(env, taste=0.0), greedy_tracks(env))
    for eta in (0.05, 0.5):
        np.testing.assert_array_equal(greedy_tracks(env, taste=eta),
                                      rows[top_slate(scores + eta * knn, allowed, 1)])
    # an overwhelming weight leaves the ranking to the taste alone: item-kNN's picks
    np.testing.assert_array_equal(greedy_tracks(env, taste=1e6), rows[top_slate(knn, allowed, 1)])
    # the picks follow the listener: more distinct tracks over the 16 sessions
    plain = len(np.unique(greedy_tracks(env)))
    tasted = len(np.unique(greedy_tracks(env, taste=0.5)))
    assert tasted > plain, (plain, tasted)


def test_a_taste_weighted_teacher_teaches_its_own_ranking(vec: MusicRecVectorEnv) -> None:
    model = make_agent("ddpg", vec, seed=4, **SMALL, teacher_taste=0.5)
    model.learn(16)  # two vector steps
    fresh = MusicRecVectorEnv(8, AutoresetMode.SAME_STEP, **vars(vec.config))
    fresh.reset(seed=4)
    taught = model.replay_buffer.teacher[0]
    np.testing.assert_array_equal(taught, greedy_tracks(fresh, taste=0.5))
    assert (taught != greedy_tracks(fresh)).any()  # not the plain teacher's tracks


def test_the_teacher_ranks_by_the_penalised_training_reward() -> None:
    penalised = MusicRecVectorEnv(num_envs=4, support_penalty=2.0, concentration_penalty=0.5)
    model = make_agent("ddpg", penalised, seed=1, **SMALL)
    model.learn(4)
    assert model._teacher == {"pessimism": 2.0, "concentration": 0.5, "taste": 0.0}
    # the first transition's teacher is greedy under the env's support penalty (nothing has
    # been recommended yet, so the concentration charge is 0), not plain greedy
    fresh = MusicRecVectorEnv(4, AutoresetMode.SAME_STEP, **vars(penalised.config))
    fresh.reset(seed=1)
    taught = model.replay_buffer.teacher[0]
    np.testing.assert_array_equal(taught, greedy_tracks(fresh, pessimism=2.0))
    assert (taught != greedy_tracks(fresh)).any()


def test_the_teacher_turns_from_a_track_the_agent_keeps_recommending() -> None:
    env = MusicRecVectorEnv(num_envs=4, concentration_penalty=0.3)
    env.reset(seed=2)
    first = greedy_tracks(env, concentration=0.3)[:, 0]
    # nothing recommended yet: every track reads 0 and the penalty changes nothing
    np.testing.assert_array_equal(first, greedy_tracks(env)[:, 0])
    # the agent recommends session 0's pick 400 times among 1,000 recommendations
    other = env.bundle.catalog.recommendable[:600]
    env.sessions._concentration(np.concatenate([np.repeat(first[0], 400), other]))
    crowded = env.sessions.concentration(np.array([first[0]]))[0]
    assert crowded == 1.0  # 40% of them, far past 100 times its uniform share
    candidates = greedy_candidates(env)
    plain = greedy_scores(env, candidates)
    charged = greedy_scores(env, candidates, concentration=0.3)
    rows = env.bundle.decoder.rows
    np.testing.assert_allclose(plain - charged,
                               0.3 * env.sessions.concentration(rows)[None, :].repeat(4, 0))
    now = greedy_tracks(env, concentration=0.3)[:, 0]
    assert now[0] != first[0] and (greedy_tracks(env)[:, 0] == first).all()
