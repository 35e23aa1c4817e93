"""`musicgym fidelity` end to end on a small generated set: real figures, report and plots."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from musicgym.cli import main
from musicgym.synthetic.generator import SyntheticConfig, generate


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("fidelity") / "synthetic"
    # 1,500 sessions: with a few hundred, the ~40 test sessions make the AUC a coin toss
    generate(SyntheticConfig(n_sessions=1500, n_tracks=1500, seed=1), root)
    return root


def test_fidelity_on_a_generated_set(generated: Path, tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "report"
    assert main(["fidelity", "--train", str(generated), "--out", str(out), "--folds", "1",
                 "--ensemble", "1", "--replicates", "2", "--bayes-draws", "64"]) == 0
    printed = capsys.readouterr().out
    assert "observable Bayes reference" in printed and "test split of --train" in printed
    report = json.loads((out / "report.json").read_text())
    model = report["predictors"]["model"]
    assert 0.3 < model["maa"] < 0.8
    assert model["auc"] > 0.55
    assert report["meta"]["teacher_forced"]["auc"] > 0.65
    assert len(report["meta"]["teacher_forced"]["members"]) == 1
    synthetic = report["synthetic"]  # the true model sees latents: it must beat the fit
    assert synthetic["oracle_auc"] > synthetic["auc"] > 0.65
    assert synthetic["oracle_auc"] > synthetic["bayes_auc"] > 0.65
    assert synthetic["correlation"] > 0.5
    assert report["meta"]["test_sessions"] == "test split of --train"
    decisions = report["decisions"]  # worlds A and B, fitted on disjoint halves
    assert -1.0 < decisions["rank_agreement"] < 1.0
    # the judge's own optimum beats popularity in its own world
    assert decisions["greedy_b_in_b"] > decisions["most_popular_in_b"] + 0.05
    assert decisions["greedy_a_minus_most_popular"] == pytest.approx(
        decisions["greedy_a_in_b"] - decisions["most_popular_in_b"])
    assert "decisions: rank agreement of worlds A and B" in printed
    assert "## Decision fidelity" in (out / "report.md").read_text()
    assert {p.name for p in out.glob("*.png")} >= {"reliability.png", "outcome_mix.png"}


def test_fidelity_refuses_bad_options(generated: Path, tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    args = ["fidelity", "--train", str(generated), "--out", str(tmp_path / "r")]
    assert main([*args, "--ensemble", "0"]) == 2
    assert "--ensemble (0) must be at least 1" in capsys.readouterr().err
    assert main([*args, "--test", str(generated / "log"), "--folds", "2"]) == 2
    assert "--folds cross-fits on --train alone" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()
