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
    assert "decision section for these data: --ensemble-resample bootstrap" in printed
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
    assert report["meta"]["ensemble_resample"] == "bootstrap"
    decisions = report["decisions"]  # worlds A and B, fitted on disjoint halves
    assert -1.0 < decisions["rank_agreement"] < 1.0
    parts = ("rank_agreement_top25", "rank_agreement_static", "rank_agreement_within_state")
    assert all(-1.0 < decisions[k] < 1.0 for k in parts)
    assert (f"of the one ranking for everyone {decisions['rank_agreement_static']:.3f}"
            in printed)
    # the judge's own optimum beats popularity in its own world
    assert decisions["greedy_b_in_b"] > decisions["most_popular_in_b"] + 0.05
    assert decisions["greedy_a_minus_most_popular"] == pytest.approx(
        decisions["greedy_a_in_b"] - decisions["most_popular_in_b"])
    assert "decisions: rank agreement of worlds A and B" in printed
    # greedy-by-A on shortlists of the most-played tracks, and (synthetic data) the true users
    ladder = {k: v for k, v in decisions.items() if k.startswith("greedy_a_in_b_top")}
    assert "greedy_a_in_b_top25" in ladder and all(0.0 < v < 1.0 for v in ladder.values())
    assert "greedy-by-A among the N most-played tracks: N=25 " in printed
    assert 0.0 < decisions["greedy_a_pessimistic_in_b"] < 1.0
    assert f"pessimistic greedy-by-A {decisions['greedy_a_pessimistic_in_b']:.3f}" in printed
    assert 0.0 < decisions["greedy_a_in_truth"] < 1.0
    assert 0.0 < decisions["most_popular_in_truth"] < 1.0
    assert f"judged by the true users: greedy-by-A {decisions['greedy_a_in_truth']:.3f}" in printed
    # every target's verdict is printed, with its figure and threshold, as report.md lists it
    verdicts = [line for line in printed.splitlines() if line.startswith(("PASS: ", "FAIL: "))]
    names = [line.split(" = ")[0].split(": ", 1)[1] for line in verdicts]
    assert names[:3] == ["model MAA", "model first-prediction accuracy",
                         "model ECE, teacher-forced"]
    assert "synthetic AUC gap to the observable Bayes reference" in names
    maa = report["predictors"]["model"]["maa"]
    best = max(f["maa"] for n, f in report["predictors"].items() if n != "model")
    assert f"model MAA = {maa:.4f} (target >= {best:.4f}" in verdicts[0]
    assert verdicts[0].startswith("PASS" if maa >= best else "FAIL")
    met = sum(line.startswith("PASS") for line in verdicts)
    assert f"targets met: {met} of {len(verdicts)}" in printed
    assert "reference: synthetic AUC gap to the true model" in printed
    markdown = (out / "report.md").read_text()
    assert all(f"- {line}" in markdown for line in verdicts)
    assert "## Decision fidelity" in markdown
    assert {p.name for p in out.glob("*.png")} >= {"reliability.png", "outcome_mix.png"}


@pytest.mark.parametrize(("flags", "message"), [
    (["--folds", "0"], "--folds (0) must be at least 1"),
    (["--ensemble", "0"], "--ensemble (0) must be at least 1"),
    (["--replicates", "0"], "--replicates (0) must be at least 1"),
    (["--bayes-draws", "-1"], "--bayes-draws (-1) must be at least 0"),
    (["--seed", "-5"], "--seed (-5) must be at least 0"),
    (["--folds", "2", "--test", "."], "--folds cross-fits on --train alone"),
    (["--train", "no-such-log.csv"], "--train (no-such-log.csv) does not exist"),
    (["--test", "no-such-log.csv"], "--test (no-such-log.csv) does not exist"),
])
def test_fidelity_refuses_bad_options_before_any_work(
        flags: list[str], message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    # no --train: the default set would be generated and fitted, if the check came late
    assert main(["fidelity", "--out", "r", *flags]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("musicgym fidelity: error: ") and message in err
    assert len(err.splitlines()) == 1
    assert list(tmp_path.iterdir()) == []  # no report folder, nothing generated


def test_fidelity_refuses_a_file_as_out(tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    report = tmp_path / "report.md"
    report.write_text("mine")
    assert main(["fidelity", "--out", str(report)]) == 2
    assert f"--out ({report}) is a file; name a folder" in capsys.readouterr().err
    assert report.read_text() == "mine"


def test_fidelity_decision_worlds_read_the_resample_asked(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import argparse

    import agents.decisions
    from musicgym.commands import fidelity

    asked = {}
    monkeypatch.setattr(agents.decisions, "decision_fidelity",
                        lambda data, **options: asked.update(options) or {})
    parser = argparse.ArgumentParser()
    fidelity.add_arguments(parser)
    args = parser.parse_args(["--out", "r", "--ensemble-resample", "jackknife",
                              "--held-out-world", "one_fit"])
    fidelity._decisions(args)
    assert asked == {"rounds": 1, "seed": 0, "ensemble": 3, "resample": "jackknife",
                     "held_out": "one_fit"}
    fidelity._decisions(parser.parse_args(["--out", "r", "--held-out-world", "as_trained",
                                           "--ensemble-resample", "bootstrap"]))
    assert asked == {"rounds": 1, "seed": 0, "ensemble": 3, "resample": "bootstrap",
                     "held_out": "as_trained"}
    with pytest.raises(SystemExit):
        parser.parse_args(["--out", "r", "--ensemble-resample", "subsample"])
    assert "invalid choice: 'subsample'" in capsys.readouterr().err
