"""The held-out world fitted as the training world (`held_out="as_trained"`) or once."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from musicgym.cli import main
from musicgym.datasets import load_dataset
from musicgym.envs.bundle import world_members
from musicgym.envs.config import EnvConfig
from musicgym.envs.judging import judging_configs
from musicgym.simulator import fitting
from musicgym.simulator.worlds import member_configs, world_split


@pytest.fixture(scope="module")
def tiny(tiny_generated: Path) -> Path:
    """The shared small generated set: quick fits, and a truth world."""
    return tiny_generated


def test_as_trained_judges_with_the_training_recipe_on_the_other_half() -> None:
    config = EnvConfig(world="A", ensemble=3, ensemble_resample="folds", simulator_seed=2,
                       uncertainty_penalty=1.0)
    one = judging_configs(config, truth=False)["held_out_world"]
    same = judging_configs(config, truth=False, held_out="as_trained")["held_out_world"]
    assert (one.world, one.catalog, one.sessions, one.ensemble) == ("B", "A", "test", 1)
    assert same == replace(one, ensemble=3)  # the only difference: the training world's size
    assert (same.ensemble_resample, same.simulator_seed, same.uncertainty_penalty) == (
        "folds", 2, 0.0)
    assert world_members(same) == member_configs("B", 3, seed=2, resample="folds")
    # its members read half B's training sessions only, one fold each, as A's read A's
    dataset = load_dataset()
    train_a = dataset.split_labels(world_split("A")) == "train"
    train_b = dataset.split_labels(world_split("B")) == "train"
    folds = [fitting.member_sessions(dataset, m) & train_b for m in world_members(same)]
    assert all(0 < f.sum() < train_b.sum() for f in folds) and not (train_a & train_b).any()
    assert (sum(f.astype(int) for f in folds) == train_b).all()
    # the training world itself is judged as it trained, either way
    assert (judging_configs(config, truth=False, held_out="as_trained")["train_world"]
            == judging_configs(config, truth=False)["train_world"])
    with pytest.raises(ValueError, match=r"held_out \('twice'\) must be one of"):
        judging_configs(config, held_out="twice")


def test_the_benchmark_judges_in_the_world_asked(tiny: Path, tmp_path: Path,
                                                capsys: pytest.CaptureFixture) -> None:
    runs, stages = {}, {}
    for held_out in ("one_fit", "as_trained"):
        out = tmp_path / held_out
        assert main(["benchmark", "--data", str(tiny), "--seeds", "1", "--timesteps", "240",
                     "--num-envs", "8", "--eval-freq", "100000", "--ensemble", "2",
                     "--rounds", "1", "--no-progress", "--no-offline",
                     "--held-out-world", held_out, "--out", str(out)]) == 0
        runs[held_out] = json.loads((out / "results.json").read_text())
        assert runs[held_out]["meta"]["held_out"] == held_out
        stages[held_out] = capsys.readouterr().out
    # the simulator stage says how B is built
    assert "world A, an ensemble of 2 and the judging world B," in stages["one_fit"]
    assert ("world A, an ensemble of 2 and the judging world B (an ensemble of 2, built as A),"
            in stages["as_trained"])
    one, same = runs["one_fit"], runs["as_trained"]
    # the same agent and baselines in the same training world and truth world ...
    for world in ("train_world", "truth_world"):
        assert same[world] == one[world]
    # ... judged by another held-out world: B's two bootstrap fits instead of its one fit
    assert (same["held_out_world"]["random"]["listened"]
            != one["held_out_world"]["random"]["listened"])
    dataset = load_dataset(tiny)
    assert all(fitting.cache_folder(dataset, m).is_dir() for m in member_configs("B", 2))


def test_decision_fidelity_judges_in_b_fitted_as_asked(tiny: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from agents import decisions

    judges = []
    vector_env = decisions.MusicRecVectorEnv
    monkeypatch.setattr(decisions, "MusicRecVectorEnv",
                        lambda n, **kw: judges.append(kw) or vector_env(n, **kw))
    figures = {}
    for held_out in ("one_fit", "as_trained"):
        judges.clear()
        figures[held_out] = decisions.decision_fidelity(str(tiny), states=16, ensemble=2,
                                                        held_out=held_out)
        assert [(kw["world"], kw["ensemble"]) for kw in judges] == [
            ("B", 1 if held_out == "one_fit" else 2), ("truth", 1)]
    one, same = figures["one_fit"], figures["as_trained"]
    assert -1.0 < same["rank_agreement"] < 1.0 and same["rank_agreement"] != one["rank_agreement"]
    assert same["greedy_b_in_b"] != one["greedy_b_in_b"]  # another judge's own optimum
    # the true users do not depend on how B is fitted
    assert same["most_popular_in_truth"] == one["most_popular_in_truth"]
    with pytest.raises(ValueError, match="held_out"):
        decisions.decision_fidelity(str(tiny), held_out="both")
