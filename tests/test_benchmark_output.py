"""What the benchmark prints and writes, its argument checks, and its cache of baseline scores."""

from __future__ import annotations

import csv
import json
import warnings
from pathlib import Path

import pytest

import agents.benchmark as benchmark
from agents.baselines import RandomAgent
from agents.benchmark import (
    BASELINES,
    benchmark_run,
    collect,
    headline,
    summarize_worlds,
    transfer_gap,
)
from agents.evaluation import METRICS, summarize
from agents.results import LEGEND, write_results
from musicgym.envs.config import EnvConfig
from musicgym.synthetic.generator import SyntheticConfig, generate


def _runs(*values: float) -> list[dict[str, float]]:
    return [dict.fromkeys(METRICS, v) for v in values]


def _write(tmp_path: Path, per_seed: dict) -> tuple[str, dict, list[dict[str, str]]]:
    text = write_results(tmp_path, summarize_worlds(per_seed), {"seeds": 1})
    data = json.loads((tmp_path / "results.json").read_text())
    with open(tmp_path / "results.csv", newline="") as stream:
        rows = list(csv.DictReader(stream))
    return text, data, rows


def test_one_seed_prints_no_interval(tmp_path: Path) -> None:
    per_seed = {"train_world": {"ddpg": _runs(0.706), "random": _runs(0.5)},
                "held_out_world": {"ddpg": _runs(0.65), "random": _runs(0.5)}}
    text, data, rows = _write(tmp_path, per_seed)
    md = (tmp_path / "results.md").read_text()
    for shown in (text, md):
        assert "| ddpg | 0.650 | 0.706 |" in shown
        assert "[" not in shown.split("```json")[0].replace("[95% interval]", "")
    assert headline(summarize_worlds(per_seed), "ddpg") == (
        "ddpg listened rate: held out world 0.650, train world 0.706")
    # JSON keeps one numeric shape: the "interval" of one seed is the mean itself
    assert data["train_world"]["ddpg"]["listened"] == {"mean": 0.706, "ci_low": 0.706,
                                                        "ci_high": 0.706}
    assert set(data) == {"train_world", "held_out_world", "meta"}
    first = rows[0]
    assert first["world"] == "held_out_world" and float(first["mean"]) == 0.65
    assert all(row["ci_low"] == "" and row["ci_high"] == "" for row in rows)
    assert len(rows) == 2 * 2 * len(METRICS)


def test_several_seeds_print_their_interval(tmp_path: Path) -> None:
    per_seed = {"train_world": {"ddpg": _runs(0.5, 0.7), "random": _runs(0.4, 0.4)},
                "held_out_world": {"ddpg": _runs(0.3, 0.5), "random": _runs(0.4, 0.4)}}
    text, data, rows = _write(tmp_path, per_seed)
    # mean 0.6, sd 0.1414, t(0.975, 1) = 12.706: half width 12.706 * 0.1 = 1.2706
    assert "| ddpg | 0.400 [-0.871, 1.671] | 0.600 [-0.671, 1.871] |" in text
    assert data["train_world"]["ddpg"]["listened"]["ci_high"] == pytest.approx(1.87062, abs=1e-4)
    row = next(r for r in rows if r["world"] == "train_world" and r["agent"] == "ddpg")
    assert float(row["ci_low"]) == pytest.approx(-0.67062, abs=1e-4)
    assert headline(summarize_worlds(per_seed), "ddpg").startswith(
        "ddpg listened rate: held out world 0.400 [-0.871, 1.671]")


def test_results_md_explains_the_worlds(tmp_path: Path) -> None:
    per_seed = {"train_world": {"ddpg": _runs(0.7)}, "held_out_world": {"ddpg": _runs(0.6)},
                "truth_world": {"ddpg": _runs(0.5)}}
    text, _, _ = _write(tmp_path, per_seed)
    md = (tmp_path / "results.md").read_text()
    assert LEGEND in md and LEGEND in text
    assert 2 <= len(LEGEND.splitlines()) <= 4
    for name in ("held out world", "train world", "truth world"):
        assert f"**{name}**" in LEGEND and f"## {name}:" in md
    assert "headline" in LEGEND and "never saw" in LEGEND and "synthetic data only" in LEGEND
    assert "| agent | held out world | train world | truth world |" in md


def test_zero_seeds_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="seeds must be at least 1"):
        summarize_worlds({})
    with pytest.raises(ValueError, match="seeds must be at least 1"):
        summarize({})
    with pytest.raises(ValueError, match="seeds must be at least 1"):
        write_results(tmp_path / "out", {}, {"seeds": 0})
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"rounds": 0}, r"rounds \(0\) must be at least 1"),
    ({"rounds": 1.5}, r"rounds \(1.5\) must be an integer"),
    ({"seed": -1}, r"seed \(-1\) must be at least 0"),
    ({"seed": True}, r"seed \(True\) must be an integer"),
    ({"num_envs": 0}, r"num_envs \(0\) must be at least 1"),
    ({"agents": {"random": RandomAgent()}}, r"'random' is the name of a baseline"),
    ({"agents": {"mine": "model.zip"}}, r"agents\['mine'\] is a str"),
    ({"agents": [RandomAgent()]}, r"agents must be a dict"),
])
def test_benchmark_arguments_are_checked_before_any_work(
        kwargs: dict, message: str, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_work(*args, **kwargs):
        raise AssertionError("the benchmark started work before checking its arguments")

    for name in ("load_dataset", "evaluation_configs", "MusicRecVectorEnv", "evaluate"):
        monkeypatch.setattr(benchmark, name, no_work)
    args = {"agents": {"mine": RandomAgent()}, "env_config": EnvConfig(), "rounds": 1,
            "seed": 0, **kwargs}
    with pytest.raises(ValueError, match=message):
        benchmark_run(**args)


def test_collect_and_transfer_gap_refuse_what_they_cannot_use() -> None:
    one = {"train_world": {"a": _runs(0.5)[0]}, "held_out_world": {"a": _runs(0.4)[0]}}
    with pytest.raises(ValueError, match="results holds no judging world"):
        collect({}, {})
    with pytest.raises(ValueError, match="unknown world 'agent_sim_a'"):
        collect({}, {"agent_sim_a": {"a": _runs(0.5)[0]}})
    with pytest.raises(ValueError, match=r"results\['train_world'\]\['a'\] lacks the metrics"):
        collect({}, {"train_world": {"a": {"listened": 0.5}}})
    per_seed: dict = {}
    collect(per_seed, one)
    with pytest.raises(ValueError, match="other worlds or agents than the earlier seeds"):
        collect(per_seed, {"train_world": {"b": _runs(0.5)[0]},
                           "held_out_world": {"b": _runs(0.4)[0]}})
    assert per_seed["train_world"]["a"] == _runs(0.5)
    assert transfer_gap(per_seed, "a")["mean"] == pytest.approx(0.1)
    with pytest.raises(ValueError, match="agent 'td3' was not judged"):
        transfer_gap(per_seed, "td3")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> EnvConfig:
    """A small generated set (so there is a truth world too), one fit per world."""
    root = generate(SyntheticConfig(n_sessions=400, n_tracks=600, seed=3),
                    tmp_path_factory.mktemp("tiny")).root
    return EnvConfig(data=root, world="A", ensemble=1)


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> tuple[dict[str, int], list[Path]]:
    """Counts of evaluations per agent class, and the cache files the benchmark looked up."""
    calls: dict[str, int] = {}
    paths: list[Path] = []
    evaluate, cache_path = benchmark.evaluate, benchmark.baseline_cache_path

    def counting(agent, *args, **kwargs):
        calls[type(agent).__name__] = calls.get(type(agent).__name__, 0) + 1
        return evaluate(agent, *args, **kwargs)

    def recording(fields):
        paths.append(cache_path(fields))
        return paths[-1]

    monkeypatch.setattr(benchmark, "evaluate", counting)
    monkeypatch.setattr(benchmark, "baseline_cache_path", recording)
    return calls, paths


def _run(config: EnvConfig, seed: int, **kwargs) -> dict:
    return benchmark_run({"mine": RandomAgent()}, config, rounds=1, seed=seed, num_envs=16,
                         **kwargs)


def test_baselines_are_read_from_the_cache_on_a_second_run(tiny: EnvConfig, counted) -> None:
    calls, paths = counted
    first = _run(tiny, seed=11)
    worlds = len(first)
    assert set(first) == {"train_world", "held_out_world", "truth_world"}
    assert sum(calls.values()) == worlds * (1 + len(BASELINES))
    assert all(p.is_file() for p in paths) and len(paths) == worlds
    calls.clear()
    second = _run(tiny, seed=11)
    assert calls == {"RandomAgent": worlds}  # only the agent itself was replayed
    assert second == first and list(second["held_out_world"]) == ["mine", *BASELINES]
    # the same numbers without the cache: reading them changes no draw
    calls.clear()
    assert _run(tiny, seed=11, cache=False) == first
    assert sum(calls.values()) == worlds * (1 + len(BASELINES))
    # "mine" is a random agent: with the same seed it draws exactly what "random" draws
    assert first["truth_world"]["mine"] == first["truth_world"]["random"]


@pytest.mark.parametrize("change", [
    {"seed": 12}, {"rounds": 2}, {"num_envs": 8},
    {"config": {"uncertainty_penalty": 0.5}}, {"config": {"min_plays": 6}},
])
def test_another_configuration_misses_the_cache(tiny: EnvConfig, counted, change: dict) -> None:
    calls, _ = counted
    _run(tiny, seed=21)
    calls.clear()
    config = EnvConfig(**{**tiny.__dict__, **change.get("config", {})})
    benchmark_run({"mine": RandomAgent()}, config, rounds=change.get("rounds", 1),
                  seed=change.get("seed", 21), num_envs=change.get("num_envs", 16))
    assert sum(calls.values()) == 3 * (1 + len(BASELINES))


@pytest.mark.parametrize("damage", [
    b"{not json", b"[1, 2]", b'{"format": "musicgym.baselines", "key": {}, "scores": {}}',
    "same key, a metric as text",
])
def test_a_corrupt_cache_entry_is_recomputed(tiny: EnvConfig, counted, damage) -> None:
    calls, paths = counted
    first = _run(tiny, seed=31)
    target = paths[1]  # the held-out world's entry
    if isinstance(damage, str):
        payload = json.loads(target.read_text())
        payload["scores"]["random"]["listened"] = "0.99"
        damage = json.dumps(payload).encode()
    target.write_bytes(damage)
    calls.clear()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        again = _run(tiny, seed=31)
    assert again == first
    assert sum(calls.values()) == 3 + len(BASELINES)  # the agent thrice, the baselines once
    assert any(str(target) in str(w.message) and "corrupt" in str(w.message) for w in caught)
    stored = json.loads(target.read_text())["scores"]
    assert stored == {name: first["held_out_world"][name] for name in BASELINES}
