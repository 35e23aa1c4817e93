"""Agents: the SB3 policy (encoder, actor, critic, save/load, TD3/SAC, lr ratio) and baselines."""

from __future__ import annotations

import copy
from collections.abc import Iterator

import numpy as np
import pytest
import torch as th
from stable_baselines3 import DDPG, SAC, TD3

from agents.baselines import (
    GreedyModelAgent,
    ItemKNNAgent,
    LoggedAgent,
    MostPopularAgent,
    RandomAgent,
    popularity,
)
from agents.policy import (
    HistoryEncoder,
    LearningRateScale,
    RecActor,
    RecCritic,
    RecPolicy,
    RecSACPolicy,
    make_agent,
    policy_description,
    rebuild_policy,
    taste_direction,
    wolpertinger_tracks,
)
from agents.scoring import knn_scores
from agents.track_agent import PolicyAgent, TrackAgent
from musicgym.data.schema import listened
from musicgym.envs.decoder import ActionDecoder
from musicgym.envs.vector import MusicRecVectorEnv

SMALL = {"learning_starts": 50, "device": "cpu", "policy_kwargs": {"net_arch": [32, 32]}}


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread() -> Iterator[None]:
    """Small networks on shared cores: more threads are much slower, not faster."""
    before = th.get_num_threads()
    th.set_num_threads(1)
    yield
    th.set_num_threads(before)


@pytest.fixture(scope="module")
def vec() -> MusicRecVectorEnv:
    return MusicRecVectorEnv(num_envs=8, slate_size=3)


@pytest.fixture(scope="module")
def ddpg(vec: MusicRecVectorEnv) -> DDPG:
    model = make_agent("ddpg", vec, seed=1, **SMALL)
    model.learn(100)
    return model


def fresh_obs(vec: MusicRecVectorEnv, seed: int = 0) -> np.ndarray:
    return vec.reset(seed=seed)[0]


def assert_valid_slates(vec: MusicRecVectorEnv, rows: np.ndarray) -> None:
    s = vec.sessions
    assert rows.shape == (vec.num_envs, vec.config.slate_size)
    assert np.isin(rows, vec.bundle.decoder.rows).all()
    for i in range(vec.num_envs):
        assert len(set(rows[i])) == rows.shape[1]
        assert not set(rows[i]) & set(s.played[i, : s.n_played[i]])


def p_listened(vec: MusicRecVectorEnv, i: int, rows: np.ndarray) -> np.ndarray:
    return vec.sessions.listen_probs(np.full(len(rows), i), rows)


def test_actor_outputs_one_unit_proto_per_slot(vec: MusicRecVectorEnv, ddpg: DDPG) -> None:
    assert isinstance(ddpg.policy, RecPolicy)
    assert isinstance(ddpg.actor, RecActor) and isinstance(ddpg.critic, RecCritic)
    obs = th.as_tensor(fresh_obs(vec))
    with th.no_grad():
        raw = ddpg.actor(obs * 5.0)  # far outside the observation box: still unit vectors
    assert raw.shape == (vec.num_envs, 3 * vec.dim)
    th.testing.assert_close(raw.reshape(vec.num_envs, 3, -1).norm(dim=-1),
                            th.ones(vec.num_envs, 3))
    assert len(ddpg.critic.q_networks) == 1  # DDPG: one Q-head
    plain = make_agent("ddpg", vec, seed=1, **{**SMALL, "policy_kwargs": {"unit_actions": False}})
    assert not plain.actor.unit
    with th.no_grad():
        small = plain.actor(obs).abs().max()
    assert 0.0 < small < 0.1  # the last layer starts small (DDPG paper), so does the tanh


def test_actor_protos_are_unit_directions(vec: MusicRecVectorEnv, ddpg: DDPG) -> None:
    obs = th.as_tensor(fresh_obs(vec, seed=7))
    with th.no_grad():
        protos = ddpg.actor(obs).reshape(vec.num_envs, 3, -1)
    th.testing.assert_close(protos.norm(dim=-1), th.ones(vec.num_envs, 3))
    # under the bilinear critic the best unit proto is the taste direction: any other unit
    # vector scores lower
    head = ddpg.critic.q_networks[0]
    with th.no_grad():
        features = ddpg.critic.extract_features(obs, ddpg.critic.features_extractor)
        taste = th.nn.functional.normalize(head.taste(features), dim=-1)
        best = head(features, taste.repeat(1, 3))
        other = th.nn.functional.normalize(taste + 0.3 * th.randn_like(taste), dim=-1)
        assert (head(features, other.repeat(1, 3)) < best).all()


def test_target_actor_outputs_the_tracks_the_env_would_play(vec: MusicRecVectorEnv,
                                                           ddpg: DDPG) -> None:
    catalog = vec.bundle.decoder.vectors
    assert ddpg.actor.catalog is None  # the actor itself stays differentiable
    np.testing.assert_array_equal(ddpg.actor_target.catalog.numpy(), catalog)
    obs = th.as_tensor(fresh_obs(vec, seed=10))
    bare = copy.deepcopy(ddpg.actor_target)
    bare.catalog = None
    with th.no_grad():
        protos = ddpg.actor_target.forward(obs).reshape(vec.num_envs, 3, -1).numpy()
        units = bare.forward(obs).reshape(vec.num_envs, 3, -1).numpy()
    np.testing.assert_array_equal(protos, catalog[(units @ catalog.T).argmax(axis=-1)])
    nearest = MusicRecVectorEnv(num_envs=2, decoding="nearest")
    model = make_agent("ddpg", nearest, seed=1, **SMALL)
    model.learn(60)
    assert model.actor_target.catalog is None
    # "cosine": the decoder's unit-length vectors, whose dot product the env decodes by
    cosine = MusicRecVectorEnv(num_envs=2, decoding="cosine")
    model = make_agent("ddpg", cosine, seed=1, **SMALL)
    model.learn(60)
    units = model.actor_target.catalog.numpy()
    np.testing.assert_array_equal(units, cosine.bundle.decoder.vectors)
    np.testing.assert_allclose(np.linalg.norm(units, axis=1), 1.0, rtol=1e-5)
    assert not np.allclose(np.linalg.norm(catalog, axis=1), 1.0)


def test_taste_direction_is_the_unit_mean_of_the_listened_tracks(vec: MusicRecVectorEnv) -> None:
    layout = vec.layout
    obs = np.zeros((3, layout.size), np.float32)
    parts = layout.split(obs)  # views into obs
    rng = np.random.default_rng(0)
    parts["history_embeddings"][:] = rng.uniform(-1, 1, parts["history_embeddings"].shape)
    emb = parts["history_embeddings"]
    # session 0: slots 7..9 valid; slot 8 skipped early, 7 and 9 listened (skip_3 only, end)
    parts["history_valid"][0, 7:] = 1
    parts["history_outcomes"][0, 7:] = np.eye(4)[[2, 0, 3]]
    # session 1: two valid slots, both skipped: the mean of both; session 2: no history
    parts["history_valid"][1, 8:] = 1
    parts["history_outcomes"][1, 8:] = np.eye(4)[[0, 1]]
    taste = taste_direction(layout, th.as_tensor(obs)).numpy()
    want = [emb[0, 7] + emb[0, 9], emb[1, 8] + emb[1, 9]]
    for i, w in enumerate(want):
        np.testing.assert_allclose(taste[i], w / np.linalg.norm(w), rtol=1e-5)
    np.testing.assert_array_equal(taste[2], 0.0)


def test_taste_prior_starts_the_actor_at_the_taste_and_bounds_its_turn(
        vec: MusicRecVectorEnv, tmp_path) -> None:
    model = make_agent("ddpg", vec, seed=2,
                       **{**SMALL, "policy_kwargs": {**SMALL["policy_kwargs"], "taste_prior": 8.0}})
    obs = th.as_tensor(fresh_obs(vec, seed=4))
    taste = taste_direction(vec.layout, obs)
    assert (taste.norm(dim=-1) > 0.99).all()  # every reset session has heard a track

    def cosines() -> th.Tensor:
        with th.no_grad():
            protos = model.actor(obs).reshape(vec.num_envs, 3, -1)
        return (protos * taste[:, None, :]).sum(dim=-1)

    assert (cosines() > 0.99).all()  # an untrained actor recommends as item-kNN would
    with th.no_grad():  # any weights: the tanh residual (norm <= 4 at dim 16) turns <= 30 deg
        for p in model.actor.mu.parameters():
            p.copy_(th.randn_like(p) * 3.0)
    turned = cosines()
    assert turned.min() >= np.cos(np.arcsin(np.sqrt(vec.dim) / 8.0)) - 1e-5
    assert turned.min() < 0.99  # and it did turn
    model.save(tmp_path / "m.zip")
    loaded = DDPG.load(tmp_path / "m.zip", device="cpu")
    assert loaded.actor.taste_prior == 8.0 and loaded.actor_target.taste_prior == 8.0
    rebuilt = rebuild_policy(policy_description(model.policy))  # what policy.pt loads into
    assert rebuilt.actor.taste_prior == 8.0
    np.testing.assert_array_equal(loaded.predict(obs.numpy(), deterministic=True)[0],
                                  model.predict(obs.numpy(), deterministic=True)[0])
    with pytest.raises(ValueError, match="taste_prior needs unit actions"):
        make_agent("ddpg", vec, **{**SMALL, "policy_kwargs": {"unit_actions": False,
                                                              "taste_prior": 1.0}})


def test_bilinear_critic_is_linear_in_each_track_vector(vec: MusicRecVectorEnv,
                                                        ddpg: DDPG) -> None:
    assert ddpg.policy.critic_head == "bilinear"
    obs = th.as_tensor(fresh_obs(vec, seed=8))
    gen = th.Generator().manual_seed(0)
    a, b = (th.rand(vec.num_envs, 3 * vec.dim, generator=gen) * 2 - 1 for _ in range(2))
    with th.no_grad():
        q = [ddpg.critic.q1_forward(obs, x) for x in (a + b, a, b, th.zeros_like(a))]
    th.testing.assert_close(q[0] - q[1], q[2] - q[3], atol=1e-5, rtol=1e-4)
    assert not th.allclose(q[1], q[3])
    mlp = make_agent("td3", vec, seed=1, **{**SMALL, "policy_kwargs": {"critic_head": "mlp"}})
    with th.no_grad():
        q = [mlp.critic.q1_forward(obs, x) for x in (a + b, a, b, th.zeros_like(a))]
    assert not th.allclose(q[0] - q[1], q[2] - q[3], atol=1e-5)
    with pytest.raises(ValueError, match="critic_head"):
        make_agent("ddpg", vec, policy_kwargs={"critic_head": "deep"})


def played_after_warmup(explore: float) -> np.ndarray:
    """The track vectors a DDPG stored after its random warm-up, one row per played slot."""
    env = MusicRecVectorEnv(num_envs=4, slate_size=3)
    model = make_agent("ddpg", env, seed=3, noise="none", explore_tracks=explore,
                       **{**SMALL, "learning_starts": 8})
    model.learn(200)
    steps = model.replay_buffer.pos
    return model.replay_buffer.actions[8 // 4:steps].reshape(-1, env.dim)


def test_explore_tracks_plays_random_catalog_tracks(vec: MusicRecVectorEnv, tmp_path) -> None:
    catalog = vec.bundle.decoder.vectors
    explored, greedy = played_after_warmup(1.0), played_after_warmup(0.0)
    hits = (np.abs(explored[:, None, :] - catalog[None]).max(axis=-1) < 1e-6).any(axis=1)
    assert hits.all()  # every stored slot is a catalog track's vector
    distinct = [len(np.unique(x.round(5), axis=0)) for x in (explored, greedy)]
    # random tracks spread over the catalog (dot decoding maps a track's vector to the track
    # with the highest dot product, so not every draw is new); the barely trained actor
    # repeats its few tracks
    assert distinct[0] > 4 * distinct[1]
    model = make_agent("ddpg", vec, seed=3, explore_tracks=0.3, **SMALL)
    model.save(tmp_path / "m.zip")
    assert DDPG.load(tmp_path / "m.zip", device="cpu").explore_tracks == 0.3
    with pytest.raises(ValueError, match="explore_tracks"):
        make_agent("ddpg", vec, explore_tracks=1.5)


def test_encoder_ignores_invalid_history_slots(vec: MusicRecVectorEnv) -> None:
    th.manual_seed(0)
    layout = vec.layout
    encoder = HistoryEncoder(vec.single_observation_space, layout.history_length, layout.dim)
    obs = fresh_obs(vec).copy()
    parts = layout.split(obs)  # views into obs
    parts["history_valid"][:, :3] = 0.0
    base = encoder(th.as_tensor(obs))
    rng = np.random.default_rng(0)
    parts["history_embeddings"][:, :3] = rng.uniform(-1, 1, (vec.num_envs, 3, layout.dim))
    parts["history_outcomes"][:, :3] = rng.uniform(0, 1, (vec.num_envs, 3, 4))
    th.testing.assert_close(encoder(th.as_tensor(obs)), base)
    parts["history_embeddings"][:, -1] += 0.5  # a valid slot does count
    assert not th.allclose(encoder(th.as_tensor(obs)), base)


def test_encoder_rejects_a_wrong_layout(vec: MusicRecVectorEnv) -> None:
    with pytest.raises(ValueError, match="history_length"):
        HistoryEncoder(vec.single_observation_space, vec.layout.history_length + 1, vec.dim)


def test_ddpg_save_load_gives_identical_actions(vec: MusicRecVectorEnv, ddpg: DDPG,
                                               tmp_path) -> None:
    obs = fresh_obs(vec, seed=3)
    ddpg.save(tmp_path / "model.zip")
    loaded = DDPG.load(tmp_path / "model.zip", device="cpu")
    assert isinstance(loaded.policy, RecPolicy) and isinstance(loaded.actor, RecActor)
    np.testing.assert_array_equal(loaded.predict(obs, deterministic=True)[0],
                                  ddpg.predict(obs, deterministic=True)[0])
    ddpg.policy.save(tmp_path / "policy.zip")
    policy = RecPolicy.load(tmp_path / "policy.zip", device="cpu")
    np.testing.assert_array_equal(policy.predict(obs, deterministic=True)[0],
                                  ddpg.predict(obs, deterministic=True)[0])


def test_actor_steps_with_its_own_learning_rate() -> None:
    weights = [th.nn.Parameter(th.ones(3)) for _ in range(2)]
    scaled = th.optim.Adam([weights[0]], lr=1e-3)
    LearningRateScale(0.05).attach(scaled)
    plain = th.optim.Adam([weights[1]], lr=5e-5)
    for w, opt in zip(weights, (scaled, plain), strict=True):
        w.grad = th.tensor([1.0, -2.0, 3.0])
        opt.step()
    th.testing.assert_close(weights[0], weights[1])
    assert scaled.param_groups[0]["lr"] == 1e-3  # the schedule's value is restored


def test_presets_reach_the_model(vec: MusicRecVectorEnv) -> None:
    musicbox = make_agent("ddpg", vec, preset="musicbox", noise="ou", device="cpu")
    assert (musicbox.learning_rate, musicbox.tau, musicbox.batch_size, musicbox.gamma) == (
        1e-3, 0.001, 64, 0.99)
    assert musicbox.buffer_size == 10_000 and musicbox.policy.actor_lr_ratio == 0.05
    tuned = make_agent("td3", vec, device="cpu")
    assert (tuned.tau, tuned.batch_size, tuned.gamma) == (0.005, 128, 0.9)
    assert tuned.explore_tracks == 0.3 and tuned.policy.critic_head == "bilinear"
    with pytest.raises(ValueError, match="algo"):
        make_agent("ppo", vec)


def test_td3_trains_with_rec_policy(vec: MusicRecVectorEnv) -> None:
    model = make_agent("td3", vec, seed=2, **SMALL)
    assert isinstance(model, TD3) and len(model.critic.q_networks) == 2
    before = [p.detach().clone() for p in model.critic.parameters()]
    model.learn(100)
    assert any(not th.equal(a, b) for a, b in zip(before, model.critic.parameters(),
                                                  strict=True))
    actions = model.predict(fresh_obs(vec), deterministic=True)[0]
    assert actions.shape == (vec.num_envs, 3 * vec.dim) and np.abs(actions).max() <= 1.0


def test_sac_trains_with_rec_sac_policy(vec: MusicRecVectorEnv, tmp_path) -> None:
    model = make_agent("sac", vec, seed=2, **SMALL)
    assert isinstance(model.policy, RecSACPolicy) and isinstance(model.critic, RecCritic)
    model.learn(100)
    obs = fresh_obs(vec)
    model.save(tmp_path / "sac.zip")
    loaded = SAC.load(tmp_path / "sac.zip", device="cpu")
    np.testing.assert_array_equal(loaded.predict(obs, deterministic=True)[0],
                                  model.predict(obs, deterministic=True)[0])


def test_wolpertinger_returns_valid_rows_and_k1_is_nearest(vec: MusicRecVectorEnv,
                                                           ddpg: DDPG) -> None:
    obs = fresh_obs(vec, seed=4)
    assert_valid_slates(vec, wolpertinger_tracks(ddpg, vec, obs, k=20))
    d = vec.bundle.decoder
    protos = ddpg.predict(obs, deterministic=True)[0].reshape(vec.num_envs, 3, -1)
    nearest = ActionDecoder(d.vectors, d.rows, "nearest").decode(protos, vec.sessions.played)[0]
    np.testing.assert_array_equal(wolpertinger_tracks(ddpg, vec, obs, k=1), nearest)


def all_agents(ddpg: DDPG) -> list[TrackAgent]:
    return [RandomAgent(), MostPopularAgent(), LoggedAgent(), ItemKNNAgent(), GreedyModelAgent(),
            GreedyModelAgent(full_catalog_limit=10, n_popular=20, n_knn=20),
            PolicyAgent(ddpg), PolicyAgent(ddpg, wolpertinger_k=5)]


def test_every_agent_recommends_valid_slates(vec: MusicRecVectorEnv, ddpg: DDPG) -> None:
    rng = np.random.default_rng(0)
    for agent in all_agents(ddpg):
        obs = fresh_obs(vec, seed=5)
        for _ in range(4):
            rows = agent.select(vec, obs, rng)
            assert_valid_slates(vec, rows)
            vec.sessions.play(rows, rng, active=~vec.sessions.done)
            obs = vec.sessions.observation()


def test_most_popular_picks_the_most_played_unplayed_track(vec: MusicRecVectorEnv) -> None:
    fresh_obs(vec, seed=6)
    top = vec.bundle.decoder.rows[np.argmax(popularity(vec))]
    vec.sessions.start(np.array([0]), np.array([[top]]), np.array([[3]]),
                       {"premium": [True], "shuffle": [False], "context_type": ["radio"],
                        "hour": [9]}, np.array([12]))
    rows = MostPopularAgent().select(vec, vec.sessions.observation(), np.random.default_rng())
    plays = vec.bundle.catalog.plays
    best = np.where(vec.sessions.allowed(), popularity(vec)[None, :], -1).max(axis=1)
    np.testing.assert_array_equal(plays[rows[:, 0]], best)
    assert top not in rows[0]


def test_logged_picks_the_logged_next_track_when_valid(vec: MusicRecVectorEnv) -> None:
    obs = fresh_obs(vec, seed=7)
    logged = vec.sessions.logged_next()
    index = vec.bundle.decoder.catalog_index(logged)
    valid = (index >= 0) & vec.sessions.allowed()[np.arange(vec.num_envs),
                                                  np.maximum(index, 0)]
    assert valid.any()
    rows = LoggedAgent().select(vec, obs, np.random.default_rng())
    np.testing.assert_array_equal(rows[valid, 0], logged[valid])
    assert_valid_slates(vec, rows)


def test_greedy_pick_has_the_highest_p_listened(vec: MusicRecVectorEnv) -> None:
    obs = fresh_obs(vec, seed=8)
    d = vec.bundle.decoder
    allowed = vec.sessions.allowed()
    narrow = GreedyModelAgent(full_catalog_limit=10, n_popular=30, n_knn=30)
    for agent in (GreedyModelAgent(), narrow):
        rows = agent.select(vec, obs, np.random.default_rng())
        pool = agent.candidates(vec) & allowed
        for i in range(vec.num_envs):
            p = p_listened(vec, i, d.rows[pool[i]])
            picked = p_listened(vec, i, rows[i])
            assert picked[0] >= p.max() - 1e-6
            assert np.all(np.diff(picked) <= 1e-6)  # the slate is in decreasing order


def test_greedy_on_a_shortlist_picks_only_the_most_played_tracks(vec: MusicRecVectorEnv) -> None:
    obs = fresh_obs(vec, seed=8)
    shortlist = GreedyModelAgent(full_catalog_limit=0, n_popular=25, n_knn=0)
    top = np.argsort(-popularity(vec), kind="stable")[:25]
    expected = np.zeros(len(vec.bundle.decoder), bool)
    expected[top] = True
    mask = shortlist.candidates(vec)
    assert (mask == expected[None, :]).all()
    rows = shortlist.select(vec, obs, np.random.default_rng())
    assert np.isin(rows, vec.bundle.decoder.rows[top]).all()
    # the best of the shortlist, which the whole catalog's greedy pick may beat
    whole = GreedyModelAgent().select(vec, obs, np.random.default_rng())
    picked = [p_listened(vec, i, rows[i])[0] for i in range(vec.num_envs)]
    best = [p_listened(vec, i, whole[i])[0] for i in range(vec.num_envs)]
    assert all(b >= p - 1e-6 for b, p in zip(best, picked, strict=True))
    assert not np.isin(whole, vec.bundle.decoder.rows[top]).all()


def test_pessimistic_greedy_picks_the_best_lower_bound(vec: MusicRecVectorEnv) -> None:
    obs = fresh_obs(vec, seed=8)
    d, allowed = vec.bundle.decoder, vec.sessions.allowed()
    error = 0.5 / np.sqrt(np.maximum(popularity(vec), 1.0))
    plain = GreedyModelAgent().select(vec, obs, np.random.default_rng())
    cautious = GreedyModelAgent(pessimism=4.0).select(vec, obs, np.random.default_rng())
    for i in range(vec.num_envs):
        bound = p_listened(vec, i, d.rows) - 4.0 * error
        bound[~allowed[i]] = -np.inf
        picked = d.catalog_index(cautious[i])
        assert bound[picked[0]] >= bound.max() - 1e-6
        assert np.all(np.diff(bound[picked]) <= 1e-6)  # the slate is in decreasing order
    # it trades the model's favourites for tracks the data know better
    plays = popularity(vec)
    assert (plays[d.catalog_index(cautious[:, 0])].mean()
            > plays[d.catalog_index(plain[:, 0])].mean())
    with pytest.raises(ValueError, match="pessimism"):
        GreedyModelAgent(pessimism=-1.0)


def test_taste_weighted_greedy_adds_the_taste_cosine(vec: MusicRecVectorEnv) -> None:
    obs = fresh_obs(vec, seed=8)
    d, allowed = vec.bundle.decoder, vec.sessions.allowed()
    knn = knn_scores(vec)
    tasted = GreedyModelAgent(taste=0.3).select(vec, obs, np.random.default_rng())
    for i in range(vec.num_envs):
        score = p_listened(vec, i, d.rows) + 0.3 * knn[i]
        score[~allowed[i]] = -np.inf
        assert score[d.catalog_index(tasted[i])[0]] >= score.max() - 1e-6
    with pytest.raises(ValueError, match=r"taste \(inf\)"):
        GreedyModelAgent(taste=float("inf"))


def test_predict_gives_vectors_that_decode_to_the_selected_tracks(vec: MusicRecVectorEnv) -> None:
    obs = fresh_obs(vec, seed=9)
    agent = ItemKNNAgent(env=vec)
    actions, state = agent.predict(obs)
    assert state is None and actions.shape == (vec.num_envs, 3 * vec.dim)
    d = vec.bundle.decoder
    nearest = ActionDecoder(d.vectors, d.rows, "nearest")
    decoded = nearest.decode(actions.reshape(vec.num_envs, 3, -1), vec.sessions.played)[0]
    np.testing.assert_array_equal(decoded, agent.select(vec, obs, np.random.default_rng()))
    with pytest.raises(ValueError, match="env="):
        ItemKNNAgent().predict(obs)


def test_greedy_model_beats_random_on_the_same_sessions(vec: MusicRecVectorEnv) -> None:
    def listened_rate(agent: TrackAgent) -> float:
        rng, outcomes = np.random.default_rng(0), []
        for seed in range(3):
            obs = fresh_obs(vec, seed=100 + seed)
            while not vec.sessions.done.all():
                out = vec.sessions.play(agent.select(vec, obs, rng), rng, ~vec.sessions.done)
                outcomes.append(out["outcomes"][out["outcomes"] >= 0])
                obs = vec.sessions.observation()
        return float(listened(np.concatenate(outcomes)).mean())

    assert listened_rate(GreedyModelAgent()) > listened_rate(RandomAgent()) + 0.05
