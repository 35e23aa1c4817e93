"""Logged sessions as env episodes, and their Minari export (`musicgym minari`)."""

from __future__ import annotations

import json
from dataclasses import asdict, replace
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

import musicgym.envs.sessions as sessions_module
from musicgym.cli import main
from musicgym.envs.config import EnvArgumentError, EnvConfig
from musicgym.logged_episodes import logged_episodes
from musicgym.minari_export import (
    DatasetIdError,
    dataset_target,
    export_minari,
    record_episodes,
)
from musicgym.synthetic.generator import SyntheticConfig, generate

minari = pytest.importorskip("minari")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> EnvConfig:
    """A small generated set, world A with one fit. "nearest" decoding plays a track's vector
    as that very track, and min_plays=1 makes every track of A's training sessions
    recommendable, so logged tracks can be replayed through `env.step`."""
    root = generate(SyntheticConfig(n_sessions=300, n_tracks=500, seed=5),
                    tmp_path_factory.mktemp("tiny")).root
    return EnvConfig(data=str(root), world="A", ensemble=1, decoding="nearest",
                     min_plays=1)


@pytest.fixture(scope="module")
def exported(tiny: EnvConfig, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    """The tiny set's training sessions exported and loaded back with minari.load_dataset."""
    out = tmp_path_factory.mktemp("minari")
    folder = export_minari(logged_episodes(tiny), "musicgym/tiny-v0", out)
    mp = pytest.MonkeyPatch()
    mp.setenv("MINARI_DATASETS_PATH", str(out))
    dataset = minari.load_dataset("musicgym/tiny-v0")
    mp.undo()
    return folder, dataset


def test_replaying_a_logged_session_in_the_env_gives_the_datasets_episode(
        tiny: EnvConfig, exported, monkeypatch: pytest.MonkeyPatch) -> None:
    _, dataset = exported
    env = gym.make("MusicRec-v0", **asdict(tiny))
    base = env.unwrapped
    logged_outcomes: list[int] = []
    # the simulated user answers with the logged outcome: the env's own step does the rest
    monkeypatch.setattr(sessions_module, "draw_outcomes",
                        lambda probs, rng: np.array([logged_outcomes.pop(0)]))
    stepped = played = 0
    for i in range(40):
        episode = dataset[i]
        tracks = episode.infos["tracks"][1:, 0]
        rows = base.bundle.catalog.rows(tracks)
        env.reset(seed=i)
        base.sessions.reset(np.array([0]), base.np_random, logged=np.array([i]))
        np.testing.assert_array_equal(base.sessions.observation()[0], episode.observations[0])
        logged_outcomes.extend(int(o) for o in episode.infos["outcomes"][1:, 0])
        heard = base.sessions.played[0, :base.sessions.n_played[0]]
        # the env's decoder never plays a track twice in a session; the log sometimes does:
        # such sessions hear their tracks directly (`SessionBatch.play`, as baselines do)
        by_step = len(set(rows) | set(heard)) == len(rows) + len(heard)
        for t, track in enumerate(tracks):
            np.testing.assert_array_equal(episode.actions[t], base.bundle.catalog.vectors[rows[t]])
            if by_step:
                obs, reward, terminated, truncated, info = env.step(episode.actions[t])
                assert info["tracks"] == [track] and info["logged_track"] == track
                assert truncated == bool(episode.truncations[t]) and not terminated
            else:
                reward = base.sessions.play(rows[t:t + 1, None], base.np_random)["reward"][0]
                obs = base.sessions.observation()[0]
            np.testing.assert_array_equal(obs, episode.observations[t + 1])
            assert reward == episode.rewards[t]
        assert base.sessions.done[0]
        stepped, played = stepped + by_step, played + (not by_step)
    assert stepped >= 8 and played >= 8 and not logged_outcomes


def test_the_dataset_holds_every_logged_training_session(tiny: EnvConfig, exported) -> None:
    _, dataset = exported
    episodes = logged_episodes(tiny)
    bundle = gym.make("MusicRec-v0", **asdict(tiny)).unwrapped.bundle
    assert dataset.total_episodes == len(episodes) == len(bundle.sampler) > 50
    assert dataset.total_steps == episodes.steps
    # each episode is its session's tracks after the opening half, with the env's reward
    lengths = episodes.lengths()
    rows = bundle.sampler.sessions.mask.sum(axis=1)
    np.testing.assert_array_equal(lengths, rows - np.floor(rows * 0.5).astype(int))
    listened = episodes.outcomes[:, 0] >= 2
    np.testing.assert_array_equal(episodes.rewards, listened.astype(float))
    assert 0.2 < episodes.rewards.mean() < 0.8
    last = dataset[3]
    assert last.truncations[-1] and not last.truncations[:-1].any()
    assert not last.terminations.any()
    assert (np.abs(episodes.actions) <= 1).all()
    assert dataset.observation_space.contains(last.observations[-1])


def test_recover_environment_gives_the_env_and_the_held_out_world(tiny: EnvConfig,
                                                                   exported) -> None:
    _, dataset = exported
    env = dataset.recover_environment()
    assert env.unwrapped.config == replace(tiny, data=str(Path(tiny.data).resolve()))
    obs, _ = env.reset(seed=0)
    obs, reward, _, _, info = env.step(env.action_space.sample())
    assert env.observation_space.contains(obs) and reward in (0.0, 1.0)
    judge = json.loads(dataset.storage.metadata["eval_env_spec"])["kwargs"]
    assert (judge["world"], judge["catalog"], judge["sessions"]) == ("B", "A", "test")
    assert judge["uncertainty_penalty"] == 0.0 and judge["ensemble"] == 1


@pytest.mark.parametrize("bad", ["tiny", "musicgym/tiny", "musicgym/ti ny-v0", "../x-v0",
                                 "musicgym/tiny-v", 7])
def test_malformed_dataset_ids_are_refused(bad: object, tmp_path: Path) -> None:
    with pytest.raises(DatasetIdError, match="NAMESPACE/NAME-vN"):
        dataset_target(bad, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_the_command_writes_once_and_never_replaces(tiny: EnvConfig, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["minari", "--data", tiny.data, "--dataset-id", "mg/tiny-v3", "--out",
            str(tmp_path), "--ensemble", "1", "--min-plays", "1"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    episodes = logged_episodes(replace(tiny, decoding="dot"))
    assert f"wrote {len(episodes)} episodes ({episodes.steps} steps" in out
    assert f"MINARI_DATASETS_PATH={tmp_path}" in out
    written = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*")}
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("musicgym minari: error: ") and "mg/tiny-v4" in err
    assert {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*")} == written
    assert [p.name for p in tmp_path.iterdir()] == ["mg"]  # no temporary left behind


def test_larger_slates_have_no_logged_episodes(tiny: EnvConfig) -> None:
    with pytest.raises(EnvArgumentError, match=r"slate_size \(2\).*one track per step"):
        logged_episodes(replace(tiny, slate_size=2))


def test_an_agents_recorded_episodes_export_at_any_slate_size(tiny: EnvConfig,
                                                              tmp_path: Path) -> None:
    config = replace(tiny, slate_size=2)
    episodes = record_episodes(config, lambda obs: np.full(32, 0.5, np.float32), 4, seed=1)
    again = record_episodes(config, lambda obs: np.full(32, 0.5, np.float32), 4, seed=1)
    np.testing.assert_array_equal(episodes.observations, again.observations)
    assert len(episodes) == 4 and episodes.tracks.shape == (episodes.steps, 2)
    export_minari(episodes, "mg/agent-v0", tmp_path, algorithm_name="constant")
    dataset = minari.MinariDataset(tmp_path / "mg" / "agent-v0" / "data")
    first = dataset[0]
    assert first.actions.shape == (episodes.lengths()[0], 32)
    assert first.infos["tracks"].shape == (episodes.lengths()[0] + 1, 2)
    np.testing.assert_allclose(first.rewards, episodes.episode(0)["rewards"])
    assert dataset.storage.metadata["algorithm_name"] == "constant"


def test_the_command_records_a_trained_agents_episodes(tiny: EnvConfig, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    from agents.training import TrainConfig, load_policy, train

    _, run = train(TrainConfig(timesteps=64, num_envs=8, eval_freq=100_000, eval_episodes=8,
                               progress=False, runs_dir=tmp_path / "runs"), tiny)
    argv = ["minari", "--policy", str(run), "--dataset-id", "mg/ddpg-v0", "--out",
            str(tmp_path / "sets"), "--episodes", "3", "--split", "test", "--seed", "2"]
    assert main(argv) == 0
    assert "wrote 3 episodes" in capsys.readouterr().out
    dataset = minari.MinariDataset(tmp_path / "sets" / "mg" / "ddpg-v0" / "data")
    assert dataset.total_episodes == 3
    assert dataset.storage.metadata["algorithm_name"] == f"ddpg ({run.name})"
    assert dataset.env_spec.kwargs["sessions"] == "test"
    _, policy = load_policy(run)
    episode = dataset[0]
    expected = policy.predict(episode.observations[:-1], deterministic=True)[0]
    np.testing.assert_allclose(episode.actions, expected, atol=1e-6)
