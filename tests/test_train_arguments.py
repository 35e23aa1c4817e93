"""Every train/benchmark/recommend argument is checked before any work: exit 2, one line, no run.

Nothing here fits a simulator or trains: each case must fail before that.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import pytest

from agents.recommender import ListeningContext
from agents.training import TrainConfig
from musicgym.cli import main


def exit_status(argv: list[str]) -> int:
    """`main`'s status; argparse's own errors exit through SystemExit(2)."""
    try:
        return main(argv)
    except SystemExit as done:
        return int(done.code)


@pytest.mark.parametrize(("args", "flag", "rule"), [
    (["--slate-size", "0"], "--slate-size", ">= 1"),
    (["--timesteps", "-5"], "--timesteps", ">= 1"),
    (["--num-envs", "0"], "--num-envs", ">= 1"),
    (["--noise-sigma", "-1"], "--noise-sigma", ">= 0"),
    (["--noise-sigma", "nan"], "--noise-sigma", ">= 0"),
    (["--rounds", "0"], "--rounds", ">= 1"),
    (["--timesteps", "2.5"], "--timesteps", "an integer"),
    (["--ensemble", "0"], "--ensemble", ">= 1"),
    (["--min-plays", "0"], "--min-plays", ">= 1"),
    (["--uncertainty-penalty", "-0.5"], "--uncertainty-penalty", ">= 0"),
    (["--seed", "-5"], "--seed", ">= 0"),
    (["--eval-freq", "0"], "--eval-freq", ">= 1"),
    (["--checkpoints", "-1"], "--checkpoints", ">= 0"),
    (["--taste-prior", "-1"], "--taste-prior", ">= 0"),
    (["--taste-prior", "often"], "--taste-prior", "a number"),
    (["--teacher", "-1"], "--teacher", ">= 0"),
    (["--teacher-taste", "-0.1"], "--teacher-taste", ">= 0"),
    (["--decoding", "sideways"], "--decoding", "invalid choice"),
])
def test_bad_train_numbers_fail_before_any_work(tmp_path: Path, capsys: pytest.CaptureFixture,
                                                args: list[str], flag: str, rule: str) -> None:
    runs = tmp_path / "runs"
    assert exit_status(["train", *args, "--runs-dir", str(runs)]) == 2
    err = capsys.readouterr().err
    assert f"argument {flag}:" in err and rule in err and "Traceback" not in err
    assert not runs.exists()


@pytest.mark.parametrize("flag", ["--data", "--test"])
def test_missing_data_fails_before_any_work(tmp_path: Path, capsys: pytest.CaptureFixture,
                                            flag: str) -> None:
    runs = tmp_path / "runs"
    assert exit_status(["train", flag, "/nonexistent/log.csv", "--runs-dir", str(runs)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "/nonexistent/log.csv" in err and flag.strip("-") in err
    assert not runs.exists()


def test_a_runs_dir_that_is_a_file_is_refused(tmp_path: Path,
                                              capsys: pytest.CaptureFixture) -> None:
    runs = tmp_path / "runs"
    runs.write_text("mine")
    assert exit_status(["train", "--runs-dir", str(runs)]) == 2
    assert "is a file" in capsys.readouterr().err and runs.read_text() == "mine"


def test_bad_exp_name_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    runs = tmp_path / "runs"
    assert exit_status(["train", "--exp-name", "../../escape", "--runs-dir", str(runs)]) == 2
    assert "exp_name ('../../escape')" in capsys.readouterr().err
    assert not runs.exists() and not (tmp_path.parent / "escape").exists()


@pytest.mark.parametrize(("args", "flag"), [
    (["--seeds", "0"], "--seeds"),
    (["--rounds", "0"], "--rounds"),
    (["--num-envs", "-3"], "--num-envs"),
])
def test_bad_benchmark_arguments_fail_before_any_work(tmp_path: Path, args: list[str],
                                                      flag: str,
                                                      capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "bench"
    assert exit_status(["benchmark", *args, "--out", str(out)]) == 2
    assert f"argument {flag}:" in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.parametrize("command", ["train", "benchmark"])
def test_a_bad_device_fails_before_any_work(tmp_path: Path, command: str,
                                            capsys: pytest.CaptureFixture,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MUSICGYM_DEVICE", raising=False)
    out = tmp_path / "out"
    where = ["--runs-dir", str(out)] if command == "train" else ["--out", str(out)]
    assert exit_status([command, "--device", "tpu", *where]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "device ('tpu')" in err and "cuda:N" in err
    assert not out.exists() and "MUSICGYM_DEVICE" not in os.environ


def test_benchmark_out_that_is_a_file_is_refused(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "bench"
    out.write_text("mine")
    assert exit_status(["benchmark", "--seeds", "1", "--out", str(out)]) == 2
    assert "--out" in capsys.readouterr().err and out.read_text() == "mine"


def test_recommend_k_and_model_checks(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert exit_status(["recommend", "--model", str(tmp_path), "--history", "t", "--k",
                        "0"]) == 2
    assert "argument --k:" in capsys.readouterr().err
    assert exit_status(["recommend", "--model", str(tmp_path / "none"), "--history",
                        "t"]) == 2
    assert "no such run folder" in capsys.readouterr().err


@pytest.mark.parametrize(("field", "value"), [
    ("timesteps", -5), ("timesteps", 2.5), ("num_envs", 0), ("eval_freq", 0),
    ("eval_episodes", 0), ("checkpoint_freq", -1), ("seed", -1), ("torch_threads", 0),
    ("noise_sigma", -1.0), ("noise_sigma", math.inf), ("noise", "pink"), ("preset", "fast"),
    ("taste_prior", -1.0), ("taste_prior", math.nan), ("teacher", -0.5), ("teacher", math.inf),
    ("algo", "ppo"), ("exp_name", ""), ("exp_name", ".hidden"), ("exp_name", "a/b"),
])
def test_train_config_names_the_bad_field(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=rf"^{field} \("):
        TrainConfig(**{field: value})


def test_taste_prior_is_refused_for_sac() -> None:
    with pytest.raises(ValueError, match="taste_prior is for DDPG and TD3"):
        TrainConfig(algo="sac", taste_prior=8.0)
    assert TrainConfig(algo="td3", taste_prior=8.0).taste_prior == 8.0


def test_teacher_is_refused_for_sac() -> None:
    with pytest.raises(ValueError, match="teacher is for DDPG and TD3"):
        TrainConfig(algo="sac", teacher=1.0)
    assert TrainConfig(algo="td3", teacher=1.0).teacher == 1.0


def test_train_config_defaults_keep_no_periodic_checkpoints() -> None:
    assert TrainConfig().checkpoint_freq == 0
    assert TrainConfig(checkpoint_freq=0, noise="none", noise_sigma=0.0).noise == "none"


@pytest.mark.parametrize(("field", "value"), [
    ("hour", 99), ("hour", -1), ("hour", 12.5), ("hour", True), ("context_type", "disco"),
    ("session_length", -3), ("session_length", 0), ("session_length", 21),
    ("premium", "yes"), ("shuffle", 1),
])
def test_listening_context_names_the_bad_field(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=rf"^{field} \("):
        ListeningContext(**{field: value})
