"""The support penalty: pessimism about tracks the training data barely know."""

from __future__ import annotations

from dataclasses import asdict, replace

import numpy as np
import pytest

from musicgym.envs.config import EnvConfig
from musicgym.envs.judging import judging_configs
from musicgym.envs.sessions import LISTENED_REWARD
from musicgym.envs.vector import MusicRecVectorEnv


@pytest.fixture(scope="module")
def env() -> MusicRecVectorEnv:
    return MusicRecVectorEnv(num_envs=8, support_penalty=2.0)


def test_reward_loses_kappa_times_the_rate_error(env: MusicRecVectorEnv) -> None:
    env.reset(seed=4)
    sessions, rng = env.sessions, np.random.default_rng(0)
    catalog = sessions.catalog
    rec = catalog.recommendable
    plays = catalog.plays[rec]
    # one thinly heard and one much-played track, so the two errors differ
    thin, heard = rec[np.argmin(plays)], rec[np.argmax(plays)]
    assert catalog.plays[heard] > 4 * catalog.plays[thin]
    slate = np.where(np.arange(sessions.n) % 2 == 0, thin, heard)[:, None]
    out = sessions.play(slate, rng)
    played = out["outcomes"][:, 0] >= 0
    assert played.all()
    expected_error = 0.5 / np.sqrt(catalog.plays[slate[:, 0]])
    np.testing.assert_allclose(out["rate_error"][:, 0], expected_error)
    listened = LISTENED_REWARD[out["outcomes"][:, 0]]
    np.testing.assert_allclose(out["reward"], listened - 2.0 * expected_error)
    # a track heard 4x as often costs at most half as much
    assert expected_error[1] <= expected_error[0] / 2


def test_info_reports_the_rate_error_without_the_penalty_too() -> None:
    vec = MusicRecVectorEnv(num_envs=4)
    vec.reset(seed=0)
    _, reward, _, _, info = vec.step(vec.action_space.sample())
    tracks = vec.bundle.catalog.rows(info["tracks"][:, 0])
    np.testing.assert_allclose(info["rate_error"][:, 0],
                               0.5 / np.sqrt(vec.bundle.catalog.plays[tracks]))
    assert set(np.unique(reward)) <= {0.0, 1.0}  # no penalty asked, none taken


def test_validation_and_judging_turn_every_training_penalty_off() -> None:
    config = EnvConfig(world="A", ensemble=2, uncertainty_penalty=1.0,
                       concentration_penalty=0.5, support_penalty=4.0)
    off = config.unpenalized()
    assert (off.uncertainty_penalty, off.concentration_penalty, off.support_penalty) == (0, 0, 0)
    assert replace(off, uncertainty_penalty=1.0, concentration_penalty=0.5,
                   support_penalty=4.0) == config  # nothing else changes
    for judge in judging_configs(config, truth=False).values():
        penalties = {k: v for k, v in asdict(judge).items() if k.endswith("_penalty")}
        assert penalties == {"uncertainty_penalty": 0.0, "concentration_penalty": 0.0,
                             "support_penalty": 0.0}
