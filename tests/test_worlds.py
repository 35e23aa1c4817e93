"""Worlds: disjoint halves, ensembles and their seeding, the penalty, and the catalog boundary."""

from __future__ import annotations

import copy
from dataclasses import replace

import numpy as np
import pytest
import torch

from agents.baselines import GreedyModelAgent, ItemKNNAgent
from agents.evaluation import evaluate
from agents.policy import make_agent
from agents.track_agent import PolicyAgent
from musicgym.data.schema import listened
from musicgym.datasets import load_dataset
from musicgym.envs.sessions import SessionBatch
from musicgym.envs.vector import MusicRecVectorEnv
from musicgym.simulator.fitting import SimulatorConfig, _key_fields, member_sessions
from musicgym.simulator.numpy_response import NumpyResponse
from musicgym.simulator.user_model import World
from musicgym.simulator.worlds import fit_members, member_configs, world_split

torch.set_num_threads(1)


def with_world(vec: MusicRecVectorEnv, world: World) -> MusicRecVectorEnv:
    """The same env (config, catalog, sessions) judged by another world."""
    other = MusicRecVectorEnv(vec.num_envs, **vars(vec.config))
    other.bundle = replace(vec.bundle, world=world)
    other.sessions = SessionBatch(other.bundle, other.config, vec.num_envs)
    return other


def rotated(model: NumpyResponse, rng: np.random.Generator) -> NumpyResponse:
    """The model with its track embeddings in other coordinates: a random signed permutation.

    A signed permutation is orthogonal, and the model's elementwise taste x track product is
    equivariant under it, so rotating the embeddings, the taste map and the match weights
    together leaves every prediction as it was.
    """
    d = model.embeddings.shape[1]
    q = np.zeros((d, d), np.float32)
    q[np.arange(d), rng.permutation(d)] = rng.choice([-1.0, 1.0], d)
    out = copy.copy(model)
    out.embeddings = model.embeddings @ q
    out.taste_w, out.taste_b = model.taste_w @ q, model.taste_b @ q
    out.w_match = np.abs(q).T @ model.w_match
    return out


def test_halves_a_and_b_hold_disjoint_training_sessions() -> None:
    dataset = load_dataset()
    a = dataset.split_labels(world_split("A")) == "train"
    b = dataset.split_labels(world_split("B")) == "train"
    every = dataset.split_labels(world_split("all")) == "train"
    assert not (a & b).any() and ((a | b) == every).all()
    assert 0.4 < a.sum() / every.sum() < 0.6
    assert [c.split.train_half for c in member_configs("A", 2)] == [0, 0]
    assert [c.bootstrap for c in member_configs("B", 1)] == [False]


def test_a_world_score_does_not_depend_on_its_internal_coordinates() -> None:
    vec = MusicRecVectorEnv(32, sessions="test", world="A")
    model = vec.bundle.world.members[0]
    turned = World((rotated(model, np.random.default_rng(0)),), vec.bundle.world.track_ids)
    assert not np.allclose(turned.members[0].embeddings, model.embeddings)
    other = with_world(vec, turned)
    agents = [ItemKNNAgent(), GreedyModelAgent()]
    for agent in agents:
        assert evaluate(agent, vec, 1, seed=4) == evaluate(agent, other, 1, seed=4)


def test_ensemble_members_are_drawn_by_the_episode_seed() -> None:
    vec = MusicRecVectorEnv(32, ensemble=2)
    vec.reset(seed=3)
    first = vec.sessions.member.copy()
    vec.reset(seed=3)
    np.testing.assert_array_equal(vec.sessions.member, first)
    assert set(first) == {0, 1}
    vec.reset(seed=4)
    assert not np.array_equal(vec.sessions.member, first)
    one, two = vec.bundle.world.members
    assert not np.allclose(one.track_head, two.track_head)  # bootstrap fits differ


def test_penalty_is_lambda_times_the_members_spread() -> None:
    vec = MusicRecVectorEnv(16, ensemble=2, uncertainty_penalty=0.5)
    vec.reset(seed=5)
    s, world = vec.sessions, vec.bundle.world
    tracks = vec.bundle.decoder.rows[np.random.default_rng(1).integers(len(vec.bundle.decoder),
                                                                        size=16)]
    sessions = np.arange(16)
    p = [s.listen_probs(sessions, tracks, World((m,), world.track_ids)) for m in world.members]
    out = s.play(tracks[:, None], np.random.default_rng(2))
    spread = np.abs(p[0] - p[1]) / 2  # the standard deviation of two values
    np.testing.assert_allclose(out["disagreement"][:, 0], spread, rtol=1e-5, atol=1e-7)
    assert spread.max() > 0.01
    np.testing.assert_allclose(out["reward"], listened(out["outcomes"][:, 0]) - 0.5 * spread,
                               rtol=1e-5, atol=1e-7)


def test_an_agent_refuses_an_env_with_another_catalog() -> None:
    train = MusicRecVectorEnv(4, world="A")
    model = make_agent("ddpg", train, seed=0, device="cpu")
    judged = MusicRecVectorEnv(4, world="B", catalog="A", sessions="test")
    obs = judged.reset(seed=0)[0]
    assert PolicyAgent(model).select(judged, obs, np.random.default_rng()).shape == (4, 1)
    assert judged.bundle.catalog.checksum == train.bundle.catalog.checksum
    own = MusicRecVectorEnv(4, world="B", sessions="test")
    with pytest.raises(ValueError, match="catalog"):
        PolicyAgent(model).select(own, own.reset(seed=0)[0], np.random.default_rng())


def test_the_env_config_offers_the_resamples_the_worlds_fit() -> None:
    from musicgym.envs import config
    from musicgym.simulator import worlds
    assert config.RESAMPLES == worlds.RESAMPLES


def test_fold_members_read_disjoint_folds_of_their_world() -> None:
    dataset = load_dataset()
    configs = member_configs("A", 3, seed=4, resample="folds")
    assert [(c.folds, c.fold, c.bootstrap, c.response.seed) for c in configs] == [
        (3, 0, False, 4), (3, 1, False, 5), (3, 2, False, 6)]
    labels = dataset.split_labels(world_split("A"))
    train = labels == "train"
    kept = [member_sessions(dataset, c) for c in configs]
    parts = [k & train for k in kept]
    assert (sum(p.astype(int) for p in parts) == train).all()  # each session in one fold
    assert all(0.25 < p.sum() / train.sum() < 0.42 for p in parts)
    assert all((k[labels == "validation"]).all() for k in kept)  # validation stays whole
    # a plain member reads every session, and its cache key is the one it had before folds
    assert member_sessions(dataset, member_configs("A")[0]) is None
    assert "folds" not in _key_fields(member_configs("A")[0])
    with pytest.raises(ValueError, match="resample"):
        member_configs("A", 3, resample="subsample")
    with pytest.raises(ValueError, match="fold"):
        SimulatorConfig(folds=3, fold=3)


def test_jackknife_members_each_leave_one_fold_out() -> None:
    dataset = load_dataset()
    configs = member_configs("A", 3, seed=4, resample="jackknife")
    assert [(c.folds, c.fold, c.jackknife, c.bootstrap, c.response.seed) for c in configs] == [
        (3, 0, True, False, 4), (3, 1, True, False, 5), (3, 2, True, False, 6)]
    labels = dataset.split_labels(world_split("A"))
    train = labels == "train"
    folds = [member_sessions(dataset, c) & train
             for c in member_configs("A", 3, seed=4, resample="folds")]
    for config, fold in zip(configs, folds, strict=True):
        kept = member_sessions(dataset, config)
        assert ((kept & train) == (train & ~fold)).all()  # every fold but its own
        assert kept[labels == "validation"].all()
    # each training session is read by all members but one
    assert (sum((member_sessions(dataset, c) & train).astype(int) for c in configs)
            == 2 * train).all()
    # jackknife members have cache keys of their own; the others keep theirs
    assert _key_fields(configs[0]) != _key_fields(member_configs("A", 3, 4, "folds")[0])
    assert "jackknife" not in _key_fields(member_configs("A", 3, 4, "folds")[0])
    with pytest.raises(ValueError, match="jackknife"):
        SimulatorConfig(jackknife=True)
    # one member is one fit on every session, whatever the resample
    assert member_configs("A", 1, resample="jackknife") == member_configs("A")


def test_an_ensemble_of_folds_fits_each_member_on_its_own_fold() -> None:
    dataset = load_dataset()
    members = fit_members(dataset, "A", 2, resample="folds")
    whole = fit_members(dataset, "A")[0]
    # every member has a row for every track, so they judge tracks by the same ids
    assert all((m.embeddings.ids == whole.embeddings.ids).all() for m in members)
    # the plays each member counted partition the world's plays (no session read twice)
    plays = [m.response.stats.plays for m in members]
    assert (plays[0] + plays[1] == whole.response.stats.plays).all()
    assert plays[0].sum() > 0 and plays[1].sum() > 0


def test_history_match_worlds_fit_with_the_taste_match_inputs() -> None:
    vec = MusicRecVectorEnv(8, world="A", history_match=True)
    model = vec.bundle.world.members[0]
    dim = model.embeddings.shape[1]
    assert model.history_match and model.hidden == model.gru_size + 2 * dim + 2
    assert vec.sessions._state.shape[-1] == model.hidden
    assert [c.response.history_match for c in member_configs("A", 2, history_match=True)] == [
        True, True]
    assert not member_configs("A")[0].response.history_match
    plain = MusicRecVectorEnv(8, world="A").bundle.world.members[0]
    assert not plain.history_match and plain.hidden == plain.gru_size
    # the env runs: the state's sums count the tracks each session has heard
    vec.reset(seed=0)
    s = vec.sessions
    heard = np.arange(s.played.shape[1])[None, :] < s.n_played[:, None]
    counts = s._state[0][:, model.gru_size + dim] + s._state[0][:, -1]
    np.testing.assert_array_equal(counts, heard.sum(axis=1))
    vec.step(np.zeros((8, *vec.single_action_space.shape), np.float32))
    counts = s._state[0][:, model.gru_size + dim] + s._state[0][:, -1]
    np.testing.assert_array_equal(counts, heard.sum(axis=1) + 1)


def test_decision_figures_pool_world_a_and_judge_with_one_fit_of_b(monkeypatch) -> None:
    from agents import decisions
    from musicgym.envs.config import EnvConfig

    bundles, envs = [], []
    load_bundle, vector_env = decisions.load_bundle, decisions.MusicRecVectorEnv
    monkeypatch.setattr(decisions, "load_bundle",
                        lambda config: bundles.append(config) or load_bundle(config))
    monkeypatch.setattr(decisions, "MusicRecVectorEnv",
                        lambda n, **kw: envs.append(kw) or vector_env(n, **kw))
    pooled = decisions.rank_agreement(EnvConfig(), states=16, ensemble=2)
    assert [(c.world, c.ensemble) for c in bundles] == [("A", 2)]  # the world agents train in
    assert [(kw["world"], kw["ensemble"]) for kw in envs] == [("B", 1)]  # the benchmark's judge
    single = decisions.rank_agreement(EnvConfig(), states=16, ensemble=1)
    assert 0.0 < pooled < 1.0 and 0.0 < single < 1.0
    assert pooled != single  # the second member's predictions enter the mean
