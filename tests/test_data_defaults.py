"""The flags left at "auto" (`--taste-prior`, `--decoding`, `--teacher`, the support and
concentration penalties, `--ensemble-resample`, `--held-out-world`): what `musicgym train` and
`benchmark` pick for the data, and that an explicit value always wins."""

from __future__ import annotations

import argparse

import pandas as pd
import pytest

from agents.training import (
    GENERATED_TASTE_PRIOR,
    LOGGED_CONCENTRATION_PENALTY,
    LOGGED_SUPPORT_PENALTY,
    LOGGED_TEACHER,
    LOGGED_TEACHER_TASTE,
    data_defaults,
)
from musicgym.commands import fidelity
from musicgym.commands.train import PLAIN, _configs, _with_data_defaults, add_arguments
from musicgym.data.dataset import PreparedDataset
from musicgym.datasets import load_dataset
from musicgym.synthetic.generator import SyntheticConfig, generate


@pytest.fixture(scope="module")
def generated_and_logged(tmp_path_factory: pytest.TempPathFactory
                         ) -> tuple[PreparedDataset, PreparedDataset]:
    """A small generated set, and a log of its sessions but one, away from the generator's files.

    (The same log under another name would be the same prepared dataset: the cache is keyed by
    content, and its manifest names the generated files.)
    """
    root = tmp_path_factory.mktemp("defaults")
    data = generate(SyntheticConfig(n_sessions=120, n_tracks=300, seed=1, chunk_sessions=50),
                    root / "synthetic")
    generated = load_dataset(data.log_dir, progress=False)
    log = pd.read_parquet(data.log_dir)
    log = log[log["session_id"] != log["session_id"].iloc[-1]]
    (root / "elsewhere").mkdir()
    log.to_csv(root / "elsewhere" / "log.csv", index=False)
    return generated, load_dataset(root / "elsewhere" / "log.csv", progress=False)


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(list(argv))


def test_generated_data_get_the_taste_prior_and_cosine_logs_neither(generated_and_logged):
    generated, logged = generated_and_logged
    chosen = data_defaults(generated)
    assert (chosen.taste_prior, chosen.decoding) == (GENERATED_TASTE_PRIOR, "cosine")
    assert GENERATED_TASTE_PRIOR == 16.0
    assert data_defaults(generated, "td3").taste_prior == GENERATED_TASTE_PRIOR
    # SAC's actor is SB3's own: no prior, and cosine alone did not help
    sac = data_defaults(generated, "sac")
    assert (sac.taste_prior, sac.decoding) == (0.0, "dot")
    plain = data_defaults(logged)
    assert (plain.taste_prior, plain.decoding) == (0.0, "dot") and "logged" in plain.why
    # generated data keep the worlds measured there, and no teacher
    assert {k: v for k, v in chosen.flags().items() if k not in ("taste_prior", "decoding")} \
        == {k: v for k, v in PLAIN.items() if k not in ("taste_prior", "decoding")}


def test_logs_get_the_jackknife_worlds_and_the_pessimistic_teacher(generated_and_logged):
    _, logged = generated_and_logged
    chosen = data_defaults(logged)
    assert (chosen.ensemble_resample, chosen.held_out_world) == ("jackknife", "as_trained")
    assert (chosen.teacher, chosen.support_penalty, chosen.concentration_penalty) == (
        LOGGED_TEACHER, LOGGED_SUPPORT_PENALTY, LOGGED_CONCENTRATION_PENALTY)
    assert LOGGED_TEACHER > 0 and LOGGED_SUPPORT_PENALTY > 0 and LOGGED_TEACHER_TASTE > 0
    assert chosen.teacher_taste == LOGGED_TEACHER_TASTE
    assert data_defaults(logged, "td3").teacher == LOGGED_TEACHER
    sac = data_defaults(logged, "sac")  # SAC's actor samples: no teacher, same worlds
    assert (sac.teacher, sac.teacher_taste, sac.support_penalty, sac.ensemble_resample) == (
        0.0, 0.0, 0.0, "jackknife")


def test_the_resolved_flags_reach_the_configs(generated_and_logged, tmp_path, capsys):
    _, logged = generated_and_logged
    args = _args()
    train, env = _configs(args, 0, tmp_path)  # before the data are read: the plain values
    assert (train.teacher, env.support_penalty, env.ensemble_resample) == (0.0, 0.0, "bootstrap")
    resolved = _with_data_defaults(args, logged)
    train, env = _configs(resolved, 0, tmp_path)
    assert train.teacher == LOGGED_TEACHER and env.support_penalty == LOGGED_SUPPORT_PENALTY
    assert env.concentration_penalty == LOGGED_CONCENTRATION_PENALTY
    assert env.ensemble_resample == "jackknife" and resolved.held_out_world == "as_trained"
    out = capsys.readouterr().out
    assert train.teacher_taste == LOGGED_TEACHER_TASTE
    assert (f"--teacher {LOGGED_TEACHER:g} --teacher-taste {LOGGED_TEACHER_TASTE:g} "
            f"--support-penalty {LOGGED_SUPPORT_PENALTY:g}") in out
    assert "--ensemble-resample jackknife --held-out-world as_trained" in out
    # --teacher-taste alone shapes the teacher the logs choose; on generated data there is none
    tasted = _args("--teacher-taste", "0.1")
    _configs(tasted, 0, tmp_path)  # valid before the data are read
    train, _ = _configs(_with_data_defaults(tasted, logged), 0, tmp_path)
    assert (train.teacher, train.teacher_taste) == (LOGGED_TEACHER, 0.1)
    with pytest.raises(ValueError, match="teacher_taste .* and teacher is 0"):
        _configs(_with_data_defaults(tasted, generated_and_logged[0]), 0, tmp_path)
    explicit = _with_data_defaults(_args("--teacher", "0", "--held-out-world", "one_fit"), logged)
    assert (explicit.teacher, explicit.held_out_world) == (0.0, "one_fit")
    assert explicit.support_penalty == LOGGED_SUPPORT_PENALTY


def test_auto_is_the_default_and_an_explicit_value_wins(generated_and_logged, capsys):
    generated, logged = generated_and_logged
    args = _args()
    assert (args.taste_prior, args.decoding) == ("auto", "auto")
    resolved = _with_data_defaults(args, generated)
    assert (resolved.taste_prior, resolved.decoding) == (16.0, "cosine")
    assert "--taste-prior 16 --decoding cosine" in capsys.readouterr().out
    assert (args.taste_prior, args.decoding) == ("auto", "auto")  # the caller's args unchanged
    mixed = _with_data_defaults(_args("--taste-prior", "4"), generated)
    assert (mixed.taste_prior, mixed.decoding) == (4.0, "cosine")
    mixed = _with_data_defaults(_args("--decoding", "nearest"), logged)
    assert (mixed.taste_prior, mixed.decoding) == (0.0, "nearest")
    explicit = _args("--taste-prior", "0", "--decoding", "dot", "--teacher", "0",
                     "--teacher-taste", "0",
                     "--support-penalty", "0", "--concentration-penalty", "0",
                     "--ensemble-resample", "bootstrap", "--held-out-world", "one_fit")
    assert _with_data_defaults(explicit, generated) is explicit
    assert capsys.readouterr().out.count("defaults for these data") == 2


def test_fidelity_builds_the_decision_worlds_as_the_benchmark_does(generated_and_logged, capsys):
    generated, logged = generated_and_logged
    parser = argparse.ArgumentParser()
    fidelity.add_arguments(parser)
    args = parser.parse_args(["--out", "r"])
    assert (args.ensemble_resample, args.held_out_world) == ("auto", "auto")
    on_logs = fidelity._worlds_for_the_data(args, logged)
    assert (on_logs.ensemble_resample, on_logs.held_out_world) == ("jackknife", "as_trained")
    generated_worlds = fidelity._worlds_for_the_data(args, generated)
    assert (generated_worlds.ensemble_resample, generated_worlds.held_out_world) == (
        "bootstrap", "one_fit")
    assert "--ensemble-resample jackknife --held-out-world as_trained" in capsys.readouterr().out
    explicit = parser.parse_args(["--out", "r", "--ensemble-resample", "folds"])
    assert fidelity._worlds_for_the_data(explicit, logged).ensemble_resample == "folds"
