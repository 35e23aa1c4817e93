"""The response model and the fitted simulator: leakage, save/load, seeding, sampler, rollouts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from musicgym.simulator.fidelity import evaluate, pack_for, rollout_outcomes
from musicgym.simulator.fitting import FittedSimulator, SimulatorConfig, fit_simulator
from musicgym.simulator.response_net import ResponseConfig
from musicgym.simulator.sampler import SessionSampler
from musicgym.synthetic.generator import SyntheticConfig

from .conftest import generated_dataset

SMALL = SimulatorConfig(embedding_dim=8, response=ResponseConfig(hidden=16, epochs=3, seed=0))


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory):
    return generated_dataset(tmp_path_factory, "sim",
                             SyntheticConfig(n_sessions=600, n_tracks=800, seed=3))


@pytest.fixture(scope="module")
def simulator(dataset) -> FittedSimulator:
    return fit_simulator(dataset, SMALL, progress=False)


def test_fit_is_seeded(dataset, simulator: FittedSimulator) -> None:
    again = fit_simulator(dataset, SMALL, progress=False)
    packed = pack_for(simulator, dataset.log(split="test"))
    a = simulator.response.predict_sessions(packed, hide_second_half=False)
    b = again.response.predict_sessions(packed, hide_second_half=False)
    np.testing.assert_array_equal(a, b)
    other = fit_simulator(dataset, SimulatorConfig(embedding_dim=8, response=ResponseConfig(
        hidden=16, epochs=3, seed=1)), progress=False)
    c = other.response.predict_sessions(packed, hide_second_half=False)
    assert not np.allclose(a, c)


def test_probabilities_are_distributions(dataset, simulator: FittedSimulator) -> None:
    packed = pack_for(simulator, dataset.log(split="validation"))
    probs = simulator.response.predict_sessions(packed, hide_second_half=False)[packed.mask]
    assert probs.shape[1] == 4 and np.all(probs >= 0)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)


def test_no_second_half_outcome_leaks_into_blind_predictions(dataset, simulator) -> None:
    packed = pack_for(simulator, dataset.log(split="test"))
    blind = simulator.response.predict_sessions(packed, hide_second_half=True)
    steps = np.arange(20)[None, :]
    second = packed.mask & (steps >= (packed.mask.sum(axis=1) // 2)[:, None])
    perturbed = packed.__class__(**{**packed.__dict__,
                                    "outcomes": np.where(second, 3 - packed.outcomes,
                                                         packed.outcomes)})
    again = simulator.response.predict_sessions(perturbed, hide_second_half=True)
    np.testing.assert_array_equal(blind, again)
    # and the outcomes do matter when shown
    shown = simulator.response.predict_sessions(perturbed, hide_second_half=False)
    assert not np.allclose(shown[second], blind[second])


def _with(packed, **fields):
    return packed.__class__(**{**packed.__dict__, **fields})


def _second_half(packed) -> np.ndarray:
    steps = np.arange(20)[None, :]
    return packed.mask & (steps >= (packed.mask.sum(axis=1) // 2)[:, None])


def _scrambled_behaviour(packed, rows: np.ndarray) -> np.ndarray:
    """Behaviour codes with `rows` [S, 20] set to a different, observed behaviour."""
    codes = packed.behaviour_codes()
    other = np.array([1, 2, 2, 3, 1, 1, 1, 1], np.uint8)  # fwdbtn start and end, seeks...
    other = np.where((codes == other).all(axis=-1, keepdims=True),
                     np.array([1, 1, 1, 1, 0, 0, 0, 0], np.uint8), other)
    return np.where(rows[..., None], other, codes).astype(np.uint8)


def test_logged_behaviour_is_read_and_defaults_to_unknown(dataset, simulator) -> None:
    from musicgym.simulator.inputs import BEHAVIOUR_COLUMNS, PackedSessions, encode_behaviour

    log = dataset.log(split="test")
    packed = pack_for(simulator, log)
    assert packed.behaviour[packed.mask][:, 0].all() and not packed.behaviour[~packed.mask].any()
    # a log without the behaviour columns packs as "unknown" everywhere
    bare = PackedSessions.from_log(log.drop(columns=list(BEHAVIOUR_COLUMNS[:-1])))
    assert not bare.behaviour.any() and not encode_behaviour(log.iloc[:0]).any()
    # observe() without behaviour is observe() with unknown behaviour
    model = simulator.response
    state = model.initial_state(packed.context)
    step = (packed.tracks[:, 0], packed.outcomes[:, 0], packed.context)
    unknown = np.zeros_like(packed.behaviour[:, 0])
    np.testing.assert_array_equal(model.observe(state, *step),
                                  model.observe(state, *step, unknown))
    assert not np.allclose(model.observe(state, *step),
                           model.observe(state, *step, packed.behaviour[:, 0]))


def test_a_rows_own_behaviour_never_reaches_its_prediction(dataset, simulator) -> None:
    packed = pack_for(simulator, dataset.log(split="test"))
    model = simulator.response
    base = model.predict_sessions(packed, hide_second_half=False, show_behaviour=True)
    first = packed.mask & ~_second_half(packed)
    for t in (0, 3):
        rows = np.zeros_like(packed.mask)
        rows[:, t] = first[:, t]
        moved = model.predict_sessions(_with(packed, behaviour=_scrambled_behaviour(packed, rows)),
                                       hide_second_half=False, show_behaviour=True)
        np.testing.assert_array_equal(moved[:, :t + 1], base[:, :t + 1])
        assert not np.allclose(moved[:, t + 1][first[:, t]], base[:, t + 1][first[:, t]])


def test_second_half_behaviour_never_reaches_the_model(dataset, simulator) -> None:
    packed = pack_for(simulator, dataset.log(split="test"))
    model = simulator.response
    second = _second_half(packed)
    moved = _with(packed, behaviour=_scrambled_behaviour(packed, second))
    for hide in (False, True):
        for show in (False, True):
            np.testing.assert_array_equal(model.predict_sessions(moved, hide, show),
                                          model.predict_sessions(packed, hide, show))
    # the env's case reads no behaviour at all; the challenge's reads the first half's
    np.testing.assert_array_equal(
        model.predict_sessions(_with(packed, behaviour=None), hide_second_half=False),
        model.predict_sessions(packed, hide_second_half=False))
    assert not np.allclose(model.predict_sessions(packed, hide_second_half=True),
                           model.predict_sessions(packed, True, show_behaviour=False))


def test_save_load_gives_identical_predictions(dataset, simulator, tmp_path: Path) -> None:
    simulator.save(tmp_path / "sim")
    loaded = FittedSimulator.load(tmp_path / "sim")
    packed = pack_for(simulator, dataset.log(split="test"))
    np.testing.assert_array_equal(
        simulator.response.predict_sessions(packed, hide_second_half=True),
        loaded.response.predict_sessions(packed, hide_second_half=True))
    assert loaded.data_checksum == dataset.checksum
    assert not any(p.name.startswith(".") for p in tmp_path.iterdir())


def test_incremental_api_matches_teacher_forcing(dataset, simulator) -> None:
    packed = pack_for(simulator, dataset.log(split="test"))
    forced = simulator.response.predict_sessions(packed, hide_second_half=False)
    model = simulator.response
    state = model.initial_state(packed.context)
    for t in range(3):
        probs = model.probs(state, packed.tracks[:, t], packed.context, packed.positions[:, t],
                            packed.session_length)
        np.testing.assert_allclose(probs, forced[:, t], atol=1e-5)
        state = model.observe(state, packed.tracks[:, t], packed.outcomes[:, t], packed.context)


def test_rollouts_are_seeded(dataset, simulator) -> None:
    packed = pack_for(simulator, dataset.log(split="test"))
    a = rollout_outcomes(simulator, packed, np.random.default_rng(5))
    b = rollout_outcomes(simulator, packed, np.random.default_rng(5))
    c = rollout_outcomes(simulator, packed, np.random.default_rng(6))
    np.testing.assert_array_equal(a, b)
    assert (a[packed.mask] != c[packed.mask]).any()


def test_challenge_decisions_are_seeded_blind_and_second_half_only(dataset, simulator) -> None:
    from musicgym.simulator.challenge import blind_decisions

    packed = pack_for(simulator, dataset.log(split="test"))
    model = simulator.response
    p_blind = model.predict_sessions(packed, hide_second_half=True)[..., :2].sum(axis=-1)

    def decide(sessions, seed: int) -> np.ndarray:
        return blind_decisions([model, model], sessions, p_blind, np.random.default_rng(seed),
                               samples=32)

    a = decide(packed, 0)
    second = _second_half(packed)
    assert not a[~second].any() and a[second].any() and not a[second].all()
    np.testing.assert_array_equal(a, decide(packed, 0))
    # the first prediction of each second half is the blind marginal's
    first = second & ~np.roll(second, 1, axis=1)
    np.testing.assert_array_equal(a[first], p_blind[first] >= 0.5)
    perturbed = _with(packed, outcomes=np.where(second, 3 - packed.outcomes, packed.outcomes),
                      behaviour=_scrambled_behaviour(packed, second))
    np.testing.assert_array_equal(a, decide(perturbed, 0))
    # the first half's behaviour is read
    first_half = packed.mask & ~second
    assert (decide(_with(packed, behaviour=_scrambled_behaviour(packed, first_half)), 0)
            != a).any()


def test_unknown_tracks_map_to_the_unknown_row(simulator) -> None:
    rows = simulator.rows(np.array([simulator.embeddings.ids[0], "t_not-a-track"]))
    assert rows.tolist() == [0, simulator.unknown_row]


def test_sampler_draws_history_halves(dataset) -> None:
    from musicgym.simulator.inputs import PackedSessions

    sampler = SessionSampler(PackedSessions.from_log(dataset.log(split="train")))
    drawn = sampler.draw(np.random.default_rng(0), 50)
    again = sampler.draw(np.random.default_rng(0), 50)
    np.testing.assert_array_equal(drawn.session_idx, again.session_idx)
    first = sampler.take(np.arange(10))
    rows = sampler.sessions.mask[:10].sum(axis=1)
    np.testing.assert_array_equal(first.history_length, rows // 2)
    quarter = SessionSampler(sampler.sessions, history_fraction=0.25).take(np.arange(10))
    np.testing.assert_array_equal(quarter.history_length, np.floor(rows * 0.25))
    with pytest.raises(ValueError, match="history_fraction"):
        SessionSampler(sampler.sessions, history_fraction=1.0)


def test_evaluate_reports_every_predictor(dataset, simulator) -> None:
    result = evaluate(simulator, dataset.log(split="test"), np.random.default_rng(0))
    assert set(result.predictors) == {"model", "always_skip", "repeat_last",
                                      "first_half_majority"}
    assert 0.0 < result.predictors["model"]["maa"] < 1.0
    assert result.rollout["gaps"]["max_mix_gap"] < 0.2
    pooled = evaluate(simulator, dataset.log(split="test"), np.random.default_rng(0),
                      members=[simulator])
    assert 0.0 < pooled.predictors["model"]["maa"] < 1.0
    # pooling a fit with itself leaves the blind probabilities as they were; only the sampled
    # second halves behind the 0/1 decisions differ
    one, two = result.predictors["model"], pooled.predictors["model"]
    assert two["auc"] == one["auc"] and two["log_loss"] == pytest.approx(one["log_loss"])
    assert abs(two["maa"] - one["maa"]) < 0.03
    # the teacher-forced figures are the pool's, with each member's beside them
    members = pooled.teacher_forced["members"]
    assert len(members) == 2 and members[0] == members[1]
    assert pooled.teacher_forced["auc"] == pytest.approx(members[0]["auc"])


def _assert_by_session_is_probs(fast, state, tracks, context, positions, length) -> None:
    """`probs_by_session` (each session given once, two candidates each) is `probs` of the
    gathered rows, and `probs` of one candidate per session is itself the by-session path.

    The positions differ between sessions (at a logged step they are all the same), so that a
    wrong gather of them shows."""
    positions = np.minimum(positions + np.arange(len(state)) % 4, 20)
    sessions = np.repeat(np.arange(len(state)), 2)
    candidates = np.stack([tracks, np.roll(tracks, 1)], axis=1).ravel()
    gathered = fast.probs(state[sessions], candidates, context[sessions], positions[sessions],
                          length[sessions])
    np.testing.assert_allclose(fast.probs_by_session(state, sessions, candidates, context,
                                                     positions, length), gathered, atol=1e-6)
    np.testing.assert_array_equal(fast.probs(state, tracks, context, positions, length),
                                  fast.probs_by_session(state, None, tracks, context,
                                                        positions, length))


def test_numpy_inference_matches_torch(dataset, simulator) -> None:
    from musicgym.simulator.numpy_response import NumpyResponse

    fast = NumpyResponse(simulator.response)
    model = simulator.response
    packed = pack_for(simulator, dataset.log(split="test"))
    torch_state = model.initial_state(packed.context)
    np_state = fast.initial_state(packed.context)
    for t in range(4):
        args = (packed.tracks[:, t], packed.context, packed.positions[:, t],
                packed.session_length)
        np.testing.assert_allclose(fast.probs(np_state, *args),
                                   model.probs(torch_state, *args), atol=1e-5)
        _assert_by_session_is_probs(fast, np_state, *args)
        step = (packed.tracks[:, t], packed.outcomes[:, t], packed.context)
        torch_state = model.observe(torch_state, *step)
        np_state = fast.observe(np_state, *step)
        np.testing.assert_allclose(np_state, torch_state.numpy(), atol=1e-5)
    # with logged behaviour (the challenge's first half), too
    step = (packed.tracks[:, 0], packed.outcomes[:, 0], packed.context, packed.behaviour[:, 0])
    np.testing.assert_allclose(fast.observe(np_state, *step),
                               model.observe(torch_state, *step).numpy(), atol=1e-5)


def test_history_match_inputs_agree_in_every_path(dataset, tmp_path: Path) -> None:
    """With `history_match`, the teacher-forced pass, the torch steps and numpy agree."""
    from musicgym.simulator.fitting import cache_folder
    from musicgym.simulator.numpy_response import NumpyResponse

    config = SimulatorConfig(embedding_dim=8, response=ResponseConfig(
        hidden=16, epochs=3, seed=0, history_match=True))
    fitted = fit_simulator(dataset, config, progress=False)
    model, fast = fitted.response, NumpyResponse(fitted.response)
    assert model.hidden == fast.hidden == 16 + 2 * 8 + 2
    # the option changes the fit's cache entry; at its default, the key is as before it existed
    assert cache_folder(dataset, config) != cache_folder(dataset, SMALL)
    assert "history_match" not in SMALL.response.to_dict()
    packed = pack_for(fitted, dataset.log(split="test"))
    forced = model.predict_sessions(packed, hide_second_half=False)
    torch_state = model.initial_state(packed.context)
    np_state = fast.initial_state(packed.context)
    for t in range(5):
        args = (packed.tracks[:, t], packed.context, packed.positions[:, t],
                packed.session_length)
        step_probs = model.probs(torch_state, *args)
        live = packed.mask[:, t]
        np.testing.assert_allclose(step_probs[live], forced[live, t], atol=1e-5)
        np.testing.assert_allclose(fast.probs(np_state, *args), step_probs, atol=1e-5)
        _assert_by_session_is_probs(fast, np_state, *args)
        step = (packed.tracks[:, t], packed.outcomes[:, t], packed.context)
        torch_state = model.observe(torch_state, *step)
        np_state = fast.observe(np_state, *step)
        np.testing.assert_allclose(np_state, torch_state.numpy(), atol=1e-5)
    # the sums count listened (classes 2, 3) and skipped (0, 1) tracks heard so far
    heard = packed.outcomes[:, :5]
    np.testing.assert_array_equal(np_state[:, 16 + 8], (heard >= 2).sum(axis=1))
    np.testing.assert_array_equal(np_state[:, -1], (heard < 2).sum(axis=1))
    # free-running rollouts and the challenge's blind decisions run on the longer state
    from musicgym.simulator.challenge import blind_decisions

    rolled = rollout_outcomes(fitted, packed, np.random.default_rng(5))
    np.testing.assert_array_equal(rolled, rollout_outcomes(fitted, packed,
                                                           np.random.default_rng(5)))
    blind = model.predict_sessions(packed, hide_second_half=True)[..., :2].sum(axis=-1)
    decided = blind_decisions([model], packed, blind, np.random.default_rng(0), samples=16)
    first = np.arange(packed.mask.shape[1])[None, :] < (packed.mask.sum(axis=1) // 2)[:, None]
    assert not decided[first | ~packed.mask].any() and decided[packed.mask & ~first].any()
    # it saves and loads with the option
    fitted.save(tmp_path / "fit")
    again = FittedSimulator.load(tmp_path / "fit")
    assert again.response.net.history_match and again.config.response.history_match
    np.testing.assert_allclose(again.response.predict_sessions(packed, False), forced, atol=1e-6)
