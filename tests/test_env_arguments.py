"""MusicRec-v0 used directly: every argument checked before any work, step before reset,
actions float32 cannot hold, and the legend of the outcome codes."""

from __future__ import annotations

import re
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

import musicgym  # noqa: F401  (registers MusicRec-v0)
from musicgym.data.schema import MAX_SESSION_LENGTH, OUTCOMES
from musicgym.envs import music_rec, vector
from musicgym.envs.config import DataNotFoundError, EnvArgumentError, EnvConfig
from musicgym.envs.music_rec import MusicRecEnv, ResetNeededError
from musicgym.envs.vector import MusicRecVectorEnv

MISSING = "/nonexistent/musicgym-h4/log.csv"


@pytest.fixture
def no_work(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test if an env starts loading data or fitting anything."""
    def refuse(config: EnvConfig) -> None:
        raise AssertionError(f"load_bundle ran for {config}")
    monkeypatch.setattr(music_rec, "load_bundle", refuse)
    monkeypatch.setattr(vector, "load_bundle", refuse)


@pytest.fixture(scope="module")
def env() -> MusicRecEnv:
    return MusicRecEnv()  # not gym.make: no OrderEnforcing wrapper


# ---- every argument, checked before any work ------------------------------------------------
BAD_ARGUMENTS = [
    ("slate_size", 0), ("slate_size", 10**6), ("slate_size", 2.5), ("slate_size", "3"),
    ("slate_size", True), ("slate_size", None),
    ("history_length", 0), ("history_length", 1000), ("history_length", 21),
    ("history_length", 4.0),
    ("reward", "clicks"), ("reward", None), ("reward", ["listened"]),
    ("min_plays", 0), ("min_plays", -3), ("min_plays", 1.5),
    ("decoding", "angle"), ("decoding", 1),
    ("history_fraction", -0.1), ("history_fraction", 1.0), ("history_fraction", float("nan")),
    ("history_fraction", "half"),
    ("simulator_seed", -5), ("simulator_seed", 1.5), ("simulator_seed", "0"),
    ("world", "C"), ("world", None),
    ("catalog", "truth"), ("catalog", 0),
    ("ensemble", 0), ("ensemble", -1), ("ensemble", 2.0),
    ("history_match", 1), ("history_match", "yes"), ("history_match", None),
    ("uncertainty_penalty", -0.5), ("uncertainty_penalty", float("inf")),
    ("uncertainty_penalty", float("nan")), ("uncertainty_penalty", "1"),
    ("support_penalty", -1.0), ("support_penalty", float("inf")), ("support_penalty", "4"),
    ("sessions", "holdout"), ("sessions", None),
    ("data", 42), ("data", ""),
    ("test_data", 3.5),
]


@pytest.mark.parametrize(("name", "value"), BAD_ARGUMENTS)
def test_each_bad_argument_is_named_before_any_work(no_work: None, name: str,
                                                    value: object) -> None:
    # the data path does not exist either: the bad value is still the one reported
    kwargs = {"data": MISSING, name: value}
    with pytest.raises(EnvArgumentError, match=rf"^{name} \("):
        MusicRecEnv(**kwargs)
    with pytest.raises(EnvArgumentError, match=rf"^{name} \("):
        MusicRecVectorEnv(2, **kwargs)


def test_errors_are_value_errors_of_one_line_that_say_the_fix() -> None:
    with pytest.raises(ValueError) as caught:
        EnvConfig(ensemble=0)
    assert "\n" not in str(caught.value) and "at least 1" in str(caught.value)
    with pytest.raises(ValueError, match=r"one of 'listened', 'listen'"):
        EnvConfig(reward="clicks")
    with pytest.raises(ValueError, match=r"in \[0\.0, 1\.0\)"):
        EnvConfig(history_fraction=1.0)


def test_deprecated_seed_is_named_as_passed(no_work: None) -> None:
    with pytest.warns(DeprecationWarning), pytest.raises(EnvArgumentError) as caught:
        MusicRecEnv(seed=-5)
    assert str(caught.value).startswith("seed (-5) must be an integer of at least 0")
    with pytest.raises(EnvArgumentError, match=r"^simulator_seed \(-5\)"):
        gym.make("MusicRec-v0", simulator_seed=-5)


def test_slate_size_too_large_names_slate_size_not_min_plays(no_work: None) -> None:
    with pytest.raises(EnvArgumentError) as caught:
        MusicRecEnv(slate_size=10**6)
    message = str(caught.value)
    assert message.startswith("slate_size (1000000)") and "min_plays" not in message
    assert f"from 1 to {MAX_SESSION_LENGTH}" in message


def test_history_length_is_capped_at_the_longest_session(no_work: None) -> None:
    with pytest.raises(EnvArgumentError) as caught:
        MusicRecEnv(history_length=1000)
    assert str(caught.value) == (f"history_length (1000) must be an integer from 1 to "
                                 f"{MAX_SESSION_LENGTH}: a session holds at most "
                                 f"{MAX_SESSION_LENGTH} tracks")
    assert EnvConfig(history_length=MAX_SESSION_LENGTH).history_length == MAX_SESSION_LENGTH


@pytest.mark.parametrize("name", ["data", "test_data"])
def test_a_missing_data_path_is_named(no_work: None, name: str, tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "log.csv.gz"
    kwargs = {name: missing, "sessions": "test"}
    with pytest.raises(DataNotFoundError) as caught:
        MusicRecEnv(**kwargs)
    assert isinstance(caught.value, FileNotFoundError) and isinstance(caught.value, ValueError)
    assert str(caught.value).startswith(f"{name} ({missing}): no such file or folder; pass ")
    assert not (tmp_path / "nowhere").exists()  # nothing was created


def test_test_data_needs_test_sessions(no_work: None, tmp_path: Path) -> None:
    log = tmp_path / "log.csv"
    log.write_text("session_id\n")
    with pytest.raises(EnvArgumentError, match=r"^test_data .*sessions='test', not 'train'"):
        MusicRecEnv(test_data=log)


def test_valid_values_are_kept_in_plain_python_types(tmp_path: Path) -> None:
    config = EnvConfig(data=tmp_path, slate_size=np.int64(3), history_fraction=np.float32(0.25),
                       uncertainty_penalty=1, ensemble=np.int32(2), history_match=np.bool_(True))
    assert type(config.slate_size) is int and config.slate_size == 3
    assert config.history_match is True
    assert type(config.ensemble) is int and type(config.uncertainty_penalty) is float
    assert config.history_fraction == 0.25 and config.data == tmp_path
    assert hash(config) == hash(EnvConfig(data=tmp_path, slate_size=3, history_fraction=0.25,
                                          uncertainty_penalty=1.0, ensemble=2,
                                          history_match=True))


@pytest.mark.parametrize(("num_envs", "autoreset_mode", "named"), [
    (0, "NextStep", "num_envs"), (-2, "NextStep", "num_envs"), (2.5, "NextStep", "num_envs"),
    (True, "NextStep", "num_envs"), ("4", "NextStep", "num_envs"),
    (2, "Sometimes", "autoreset_mode"), (2, "Disabled", "autoreset_mode"),
])
def test_vector_env_arguments_are_named(no_work: None, num_envs: object, autoreset_mode: str,
                                        named: str) -> None:
    with pytest.raises(EnvArgumentError, match=rf"^{named} \("):
        MusicRecVectorEnv(num_envs, autoreset_mode, data=MISSING)


# ---- the env used directly ------------------------------------------------------------------
def test_single_env_refuses_step_before_reset() -> None:
    fresh = MusicRecEnv()
    action = np.zeros(fresh.action_space.shape, np.float32)
    with pytest.raises(ResetNeededError, match=r"before reset\(\); call reset\(\)") as caught:
        fresh.step(action)
    assert isinstance(caught.value, gym.error.ResetNeeded)
    assert isinstance(caught.value, RuntimeError)
    fresh.reset(seed=0)
    assert fresh.step(action)[1] in (0.0, 1.0)


def test_vector_env_refuses_step_before_reset() -> None:
    fresh = MusicRecVectorEnv(num_envs=3)
    actions = np.zeros(fresh.action_space.shape, np.float32)
    with pytest.raises(ResetNeededError, match=r"before reset\(\)"):
        fresh.step(actions)
    fresh.reset(seed=0)
    assert fresh.step(actions)[1].shape == (3,)


def test_reset_seed_is_checked(env: MusicRecEnv) -> None:
    for bad in (-5, 1.5, "0"):
        with pytest.raises(EnvArgumentError, match=r"^seed \(.*\) of reset\(\) must be None or "
                                                   "a non-negative integer"):
            env.reset(seed=bad)
    assert env.reset(seed=np.int64(5))[0].shape == env.observation_space.shape


def test_an_action_too_large_for_float32_is_reported_as_such(env: MusicRecEnv) -> None:
    env.reset(seed=0)
    action = np.zeros(env.action_space.shape, np.float64)
    action[2] = 1e300
    with pytest.raises(ValueError) as caught:
        env.step(action)
    message = str(caught.value)
    assert message.startswith("action[2] (1e+300) is outside the action space bounds [-1, 1]")
    assert "float32" in message and "NaN" not in message
    action[2] = np.nan
    with pytest.raises(ValueError, match=r"^action\[2\] is nan: .*NaN or inf"):
        env.step(action)
    with pytest.raises(ValueError, match="action must be an array of numbers"):
        env.step(["a"] * env.action_space.shape[0])
    # a finite float64 action inside float32's range is clipped, as before
    action[2] = 1e30
    _, reward, _, _, info = env.step(action)
    assert len(info["tracks"]) == 1 and reward in (0.0, 1.0)


def test_vector_env_reports_the_batch_index_of_a_huge_action() -> None:
    vec = MusicRecVectorEnv(num_envs=2)
    vec.reset(seed=0)
    actions = np.zeros(vec.action_space.shape, np.float64)
    actions[1, 4] = -1e300
    with pytest.raises(ValueError, match=r"^action\[1, 4\] \(-1e\+300\) is outside"):
        vec.step(actions)


# ---- the outcome legend ---------------------------------------------------------------------
def test_outcome_codes_have_a_public_legend(env: MusicRecEnv) -> None:
    assert MusicRecEnv.OUTCOME_NAMES == OUTCOMES == MusicRecVectorEnv.OUTCOME_NAMES
    # the docstring's legend table lists each code with its schema name
    doc = MusicRecEnv.__doc__
    for code, name in enumerate(OUTCOMES):
        assert re.search(rf"^\s*\| {code} \| {name} \|", doc, re.MULTILINE), name
    env.reset(seed=1)
    seen = set()
    for _ in range(40):
        _, _, _, truncated, info = env.step(env.action_space.sample())
        codes = info["outcomes"][info["played"]]
        seen |= {env.OUTCOME_NAMES[c] for c in codes}
        if truncated:
            env.reset()
    assert seen <= set(OUTCOMES) and len(seen) >= 3
