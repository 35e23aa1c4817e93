"""Offline agents learned from logged sessions (`agents/offline.py`) and in the benchmark."""

from __future__ import annotations

import csv
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch as th

import agents.offline as offline
from agents.offline import OfflineConfig, bc_logged, logged_steps, td3bc_logged
from musicgym.cli import main
from musicgym.envs.bundle import load_bundle
from musicgym.envs.config import EnvConfig
from musicgym.envs.observation import ObservationLayout
from musicgym.logged_episodes import Episodes, logged_episodes
from musicgym.synthetic.generator import SyntheticConfig, generate


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> EnvConfig:
    """A small generated set (so there is a truth world too), world A with one fit."""
    root = generate(SyntheticConfig(n_sessions=300, n_tracks=500, seed=5),
                    tmp_path_factory.mktemp("tiny")).root
    return EnvConfig(data=str(root), world="A", ensemble=1)


def _extremes(config: EnvConfig) -> tuple[int, int]:
    """Two recommendable tracks the dot decoder can play: the best along a direction and
    along its opposite."""
    catalog = load_bundle(config).catalog
    rows = catalog.recommendable
    scores = catalog.vectors[rows] @ np.eye(catalog.dim)[0]
    return int(rows[scores.argmax()]), int(rows[scores.argmin()])


def _rule_episodes(config: EnvConfig) -> tuple[Episodes, np.ndarray]:
    """The logged episodes with each logged track replaced by a rule of the history: track X
    after a listened track, Y after a skipped one. Returns them and each step's rule track."""
    episodes = logged_episodes(config)
    x, y = _extremes(config)
    steps = episodes.transitions()
    layout = ObservationLayout(config.history_length, load_bundle(config).catalog.dim)
    last_outcome = layout.split(steps["observations"])["history_outcomes"][:, -1]
    listened = last_outcome[:, 2:].sum(axis=1) > 0.5
    rule = np.where(listened, x, y)
    vectors = load_bundle(config).catalog.vectors
    return replace(episodes, tracks=rule[:, None], actions=vectors[rule],
                   recommendable=np.ones(len(rule), bool)), rule


def _decoded(policy, observations: np.ndarray, config: EnvConfig) -> np.ndarray:
    """Catalog rows the env's dot decoder plays for the policy's actions (nothing banned)."""
    decoder = load_bundle(config).decoder
    protos = policy.predict(observations, deterministic=True)[0][:, None, :]
    return decoder.decode(protos, np.full((len(protos), 20), -1))[0][:, 0]


def test_bc_logged_learns_the_loggers_rule(tiny: EnvConfig) -> None:
    episodes, rule = _rule_episodes(tiny)
    obs = episodes.transitions()["observations"]
    untrained = offline.new_policy(logged_steps(episodes), OfflineConfig())
    policy = bc_logged(episodes, OfflineConfig(epochs=15, seed=1))
    recommendable = len(load_bundle(tiny).catalog.recommendable)
    before = float((_decoded(untrained, obs, tiny) == rule).mean())
    after = float((_decoded(policy, obs, tiny) == rule).mean())
    # 2 tracks of ~160: chance is ~1/160 per step; the rule needs the history's last outcome
    assert recommendable > 100 and before < 0.6 and after > 0.95
    assert 0.2 < (rule == rule[0]).mean() < 0.8  # both tracks are asked for


def test_bc_logged_finds_held_out_logged_tracks_better_than_chance(tiny: EnvConfig) -> None:
    train, test = logged_episodes(tiny), logged_episodes(replace(tiny, sessions="validation"))
    steps = logged_steps(test)
    keep = steps.recommendable
    loss_fn = offline.CloningLoss(steps.catalog)
    targets = loss_fn.targets(steps.tracks[keep])

    def top10(policy) -> float:
        with th.no_grad():
            logits = loss_fn.logits(policy.actor(th.as_tensor(steps.observations[keep])))
        rank = (logits > logits.gather(1, targets[:, None])).sum(dim=1).numpy()
        return float((rank < 10).mean())

    untrained = top10(offline.new_policy(steps, OfflineConfig()))
    trained = top10(bc_logged(train, OfflineConfig(epochs=20)))
    chance = 10 / len(steps.catalog.recommendable)
    # validation sessions: measured 0.183 against 0.069 untrained and 0.086 by chance (116
    # recommendable tracks); on this tiny set, ranking by plays finds 0.24
    assert trained > 1.5 * chance and trained > 2 * untrained


def test_the_same_seed_gives_the_same_policy_from_arrays_or_minari(
        tiny: EnvConfig, tmp_path: Path) -> None:
    minari = pytest.importorskip("minari")
    from musicgym.minari_export import export_minari

    episodes = logged_episodes(tiny)
    config = OfflineConfig(epochs=2, seed=3)
    export_minari(episodes, "mg/bc-v0", tmp_path)
    dataset = minari.MinariDataset(tmp_path / "mg" / "bc-v0" / "data")
    one, two = bc_logged(episodes, config), bc_logged(dataset, config)
    other = bc_logged(episodes, replace(config, seed=4))
    for (name, a), b in zip(one.state_dict().items(), two.state_dict().values(), strict=True):
        assert th.equal(a, b), name
    assert not all(th.equal(a, c) for a, c in zip(one.state_dict().values(),
                                                  other.state_dict().values(), strict=True))
    assert one.catalog_checksum == load_bundle(tiny).catalog.checksum


def test_td3bc_critic_values_listened_steps_above_skipped_ones(tiny: EnvConfig) -> None:
    episodes = logged_episodes(tiny)
    policy = td3bc_logged(episodes, OfflineConfig(epochs=10))
    steps = logged_steps(episodes)
    with th.no_grad():
        q = policy.critic.q1_forward(th.as_tensor(np.array(steps.observations)),
                                     th.as_tensor(np.array(steps.actions))).squeeze(1).numpy()
    gap = q[steps.rewards == 1].mean() - q[steps.rewards == 0].mean()
    assert gap > 0.2


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"epochs": 0}, r"epochs \(0\) must be an integer >= 1"),
    ({"batch_size": 2.5}, r"batch_size \(2.5\)"),
    ({"gamma": 1.5}, r"gamma \(1.5\) must be a finite number in \[0.0, 1.0\]"),
    ({"learning_rate": float("nan")}, r"learning_rate \(nan\)"),
    ({"seed": True}, r"seed \(True\)"),
])
def test_offline_config_is_checked(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        OfflineConfig(**kwargs)


def test_an_unknown_source_is_refused() -> None:
    with pytest.raises(ValueError, match="source must be logged Episodes or a MinariDataset"):
        bc_logged({"observations": []})


def test_the_benchmark_judges_the_offline_agents(tiny: EnvConfig, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(offline, "BENCHMARK_EPOCHS", 2)
    out = tmp_path / "bench"
    argv = ["benchmark", "--data", tiny.data, "--seeds", "1", "--timesteps", "64",
            "--num-envs", "8", "--ensemble", "1", "--rounds", "1", "--eval-freq", "100000",
            "--no-progress", "--out", str(out)]
    assert main(argv) == 0
    results = json.loads((out / "results.json").read_text())
    for world in ("train_world", "held_out_world", "truth_world"):
        assert {"ddpg", "bc_logged", "td3bc_logged", "random"} <= set(results[world])
        assert 0.0 < results[world]["bc_logged"]["listened"]["mean"] < 1.0
    rows = [line.split(" |")[0] for line in (out / "results.md").read_text().splitlines()
            if line.startswith("| ")]
    assert rows[1:4] == ["| ddpg", "| bc_logged", "| td3bc_logged"]  # beside the online agent
    with open(out / "results.csv", newline="") as stream:
        agents = {row["agent"] for row in csv.DictReader(stream)}
    assert {"bc_logged", "td3bc_logged", "ddpg", "random"} <= agents
    assert (out / "results.png").stat().st_size > 0
