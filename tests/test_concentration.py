"""The concentration penalty: its arithmetic, the reward it takes off, and seeded resets."""

from __future__ import annotations

import numpy as np
import pytest

from musicgym.envs.sessions import CONCENTRATION_SCALE, LISTENED_REWARD
from musicgym.envs.vector import MusicRecVectorEnv


@pytest.fixture(scope="module")
def env() -> MusicRecVectorEnv:
    return MusicRecVectorEnv(num_envs=8, concentration_penalty=0.5)


def test_concentration_is_the_share_over_the_uniform_share(env: MusicRecVectorEnv) -> None:
    sessions = env.sessions
    n_rec = len(sessions.catalog.recommendable)
    a, b = sessions.catalog.recommendable[:2]
    sessions.forget_recommendations()
    sessions._recent[a], sessions._recent[b] = 1.0, 99.0
    value = sessions._concentration(np.array([a, b]))
    expected = np.minimum(np.array([0.01, 0.99]) * n_rec / CONCENTRATION_SCALE, 1.0)
    np.testing.assert_allclose(value, expected)
    # then both count as recommended once more, after the old counts decayed
    assert sessions._recent[a] == pytest.approx(1.0 * np.exp(-2 / 5_000) + 1.0)
    sessions.forget_recommendations()
    assert sessions._concentration(np.array([a])).tolist() == [0.0]  # nothing counted yet


def test_reward_loses_beta_times_concentration(env: MusicRecVectorEnv) -> None:
    env.reset(seed=3)
    sessions, rng = env.sessions, np.random.default_rng(0)
    sessions.forget_recommendations()
    track = sessions.catalog.recommendable[0]
    half = np.arange(sessions.n) < sessions.n // 2
    slate = np.full((sessions.n, 1), track)
    first = sessions.play(slate, rng, active=half)  # nothing counted yet: no penalty
    assert first["concentration"].max() == 0.0
    second = sessions.play(slate, rng, active=~half)  # the same track, to the other half
    played = second["outcomes"][:, 0] >= 0
    assert (second["concentration"][played, 0] > 0).all()
    listened = LISTENED_REWARD[np.maximum(second["outcomes"][:, 0], 0)]
    np.testing.assert_allclose(second["reward"][played],
                               (listened - 0.5 * second["concentration"][:, 0])[played])


def test_a_seeded_reset_gives_the_same_rewards(env: MusicRecVectorEnv) -> None:
    def rollout() -> tuple[np.ndarray, float]:
        env.reset(seed=11)
        actions = np.random.default_rng(5)
        steps = [env.step(actions.uniform(-0.2, 0.2, env.action_space.shape).astype(np.float32))
                 for _ in range(8)]
        return np.stack([s[1] for s in steps]), max(s[4]["concentration"].max() for s in steps)

    first, penalised = rollout()
    assert penalised > 0  # the rollout does pay the penalty, so counts matter
    other = np.random.default_rng(9)
    for _ in range(5):  # more recommendations counted between the two runs
        env.step(other.uniform(-0.2, 0.2, env.action_space.shape).astype(np.float32))
    np.testing.assert_array_equal(first, rollout()[0])
