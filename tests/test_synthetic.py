"""Tests of the synthetic MSSD generator: schema, realism, ground truth, determinism, atomicity."""

from __future__ import annotations

import argparse
import gzip
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from scipy.stats import rankdata

from musicgym.commands import generate as generate_command
from musicgym.data import cache
from musicgym.data.schema import (
    CONTEXT_TYPES,
    FEATURE_COLUMN_NAMES,
    FEATURE_COLUMNS,
    LOG_COLUMN_NAMES,
    LOG_COLUMNS,
    OUTCOMES,
    arrow_schema,
    outcome_class,
)
from musicgym.synthetic import default, generator, marginals
from musicgym.synthetic.dataset import SyntheticDataset
from musicgym.synthetic.generator import SyntheticConfig, generate

from .conftest import MSSD_STATS

SHARED_STATS = MSSD_STATS
REAL_MIX = (0.426, 0.095, 0.130, 0.349)
SMALL = SyntheticConfig(n_sessions=3_000, n_tracks=5_000, seed=7, chunk_sessions=1_000)


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> SyntheticDataset:
    return generate(SMALL, tmp_path_factory.mktemp("synthetic") / "small")


@pytest.fixture(scope="module")
def log(small: SyntheticDataset) -> pd.DataFrame:
    return pd.concat([pd.read_parquet(p) for p in small.log_files], ignore_index=True)


@pytest.fixture(scope="module")
def features(small: SyntheticDataset) -> pd.DataFrame:
    return pd.read_parquet(small.track_features)


@pytest.fixture(scope="module")
def truth(small: SyntheticDataset) -> pd.DataFrame:
    return pd.read_parquet(small.ground_truth)


def _auc(labels: np.ndarray, scores: np.ndarray) -> float:
    ranks = rankdata(scores)
    n_pos = labels.sum()
    n_neg = labels.size - n_pos
    return float((ranks[labels].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _read_counts(path: Path) -> dict[str, float]:
    rows = [line.split() for line in path.read_text().splitlines() if line.strip()]
    return {row[0]: float(row[1]) for row in rows}


# -- files and schema ---------------------------------------------------------------------------


def test_files_written(small: SyntheticDataset) -> None:
    names = sorted(p.name for p in small.root.iterdir())
    assert names == sorted(
        [
            "log",
            "track_features.parquet",
            "ground_truth.parquet",
            "track_latents.npy",
            "track_popularity.npy",
            "truth.json",
        ]
    )
    assert [p.name for p in small.log_files] == [
        "part-00000.parquet",
        "part-00001.parquet",
        "part-00002.parquet",
    ]
    assert small.n_sessions == 3_000 and small.n_tracks == 5_000


def test_log_schema(small: SyntheticDataset, log: pd.DataFrame) -> None:
    for path in small.log_files:
        assert pq.read_schema(path).remove_metadata() == arrow_schema(LOG_COLUMNS)
    assert tuple(log.columns) == LOG_COLUMN_NAMES
    assert len(log) == small.n_rows
    assert log["session_id"].str.match(r"^\d+_[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-").all()
    assert log["track_id_clean"].str.match(r"^t_[0-9a-f]{8}-").all()
    assert set(log["context_type"]) <= set(CONTEXT_TYPES)
    dates = pd.to_datetime(log["date"])
    assert (dates.dt.year == 2018).all() and (dates.dt.month == 7).all()
    assert log["hour_of_day"].between(0, 23).all()


def test_feature_schema(small: SyntheticDataset, features: pd.DataFrame) -> None:
    assert pq.read_schema(small.track_features).remove_metadata() == arrow_schema(FEATURE_COLUMNS)
    assert tuple(features.columns) == FEATURE_COLUMN_NAMES
    assert len(features) == 5_000 and features["track_id"].is_unique
    assert set(features["mode"]) == {"major", "minor"}
    assert set(features["key"]) <= set(range(12))
    latents = np.load(small.track_latents)
    assert latents.shape == (5_000, 8) and latents.dtype == np.float32
    popularity = np.load(small.track_popularity)
    assert popularity.shape == (5_000,) and abs(popularity.sum() - 1) < 1e-9


def test_played_tracks_exist(log: pd.DataFrame, features: pd.DataFrame) -> None:
    assert set(log["track_id_clean"]) <= set(features["track_id"])


def test_nested_flags(log: pd.DataFrame) -> None:
    assert (log["skip_2"] | ~log["skip_1"]).all()
    assert (log["skip_3"] | ~log["skip_2"]).all()
    assert (log["not_skipped"] == ~log["skip_3"]).all()


def test_positions_complete(log: pd.DataFrame) -> None:
    grouped = log.groupby("session_id", sort=False)
    assert grouped.ngroups == 3_000
    sizes = grouped.size()
    lengths = grouped["session_length"].first()
    assert (sizes == lengths).all()
    expected = np.concatenate([np.arange(1, n + 1) for n in lengths])
    assert np.array_equal(log["session_position"].to_numpy(), expected)
    assert (grouped["premium"].nunique() == 1).all()


def test_other_columns_plausible(log: pd.DataFrame) -> None:
    pauses = log[["no_pause_before_play", "short_pause_before_play", "long_pause_before_play"]]
    later = log["session_position"] > 1
    assert (pauses[later].sum(axis=1) == 1).all()
    assert (pauses[~later].sum(axis=1) == 0).all()
    assert (log["hist_user_behavior_n_seekfwd"] == 0).mean() > 0.95
    assert 0.02 < log.loc[later, "context_switch"].mean() < 0.07
    assert (log.loc[~later, "context_switch"] == 0).all()
    end = log["hist_user_behavior_reason_end"]
    assert (end[log["skip_1"]] == "fwdbtn").mean() > 0.7
    assert (end[log["not_skipped"]] == "trackdone").mean() > 0.9
    previous_end = log.groupby("session_id", sort=False)["hist_user_behavior_reason_end"].shift()
    start = log["hist_user_behavior_reason_start"]
    assert (start[later] == previous_end[later]).mean() > 0.85  # endplay -> clickrow


# -- realism against the real statistics ----------------------------------------------------------


def test_skip_rate_and_outcome_mix(small: SyntheticDataset, log: pd.DataFrame) -> None:
    skip_2 = log["skip_2"].mean()
    assert 0.50 <= skip_2 <= 0.54
    assert abs(small.skip_2_rate - skip_2) < 1e-6
    classes = outcome_class(log["skip_1"], log["skip_2"], log["skip_3"])
    mix = np.bincount(classes, minlength=len(OUTCOMES)) / len(log)
    np.testing.assert_allclose(mix, REAL_MIX, atol=0.03)
    np.testing.assert_allclose(mix, marginals.OUTCOME_PROBS, atol=0.03)


def test_session_lengths(log: pd.DataFrame) -> None:
    lengths = log.groupby("session_id")["session_length"].first()
    observed = lengths.value_counts(normalize=True).reindex(range(10, 21), fill_value=0)
    expected = pd.Series(marginals.SESSION_LENGTH_PROBS)
    assert (observed - expected).abs().max() < 0.02
    path = SHARED_STATS / "session_lengths.txt"
    if path.is_file():
        counts = {int(k): v for k, v in _read_counts(path).items() if int(k) >= 10}
        real = pd.Series(counts) / sum(counts.values())
        assert (observed - real).abs().max() < 0.02


def test_session_lengths_against_real_file() -> None:
    path = SHARED_STATS / "session_lengths.txt"
    if not path.is_file():
        pytest.skip(f"{path} not present")
    counts = {int(k): v for k, v in _read_counts(path).items()}
    total = sum(counts.values())
    for length, share in marginals.SESSION_LENGTH_PROBS.items():
        assert abs(counts[length] / total - share) < 1e-5


def test_context_mix(log: pd.DataFrame) -> None:
    observed = log["context_type"].value_counts(normalize=True)
    for context, share in marginals.CONTEXT_PROBS.items():
        assert abs(observed.get(context, 0.0) - share) < 0.03, context
    path = SHARED_STATS / "context.txt"
    if path.is_file():
        real = _read_counts(path)
        total = sum(real.values())
        for context, count in real.items():
            assert abs(observed.get(context, 0.0) - count / total) < 0.03, context
    assert abs(log["premium"].mean() - marginals.PREMIUM_SHARE) < 0.03


def test_feature_quantiles(features: pd.DataFrame) -> None:
    path = SHARED_STATS / "track_feature_stats.txt"
    stats = dict(marginals.FEATURE_STATS)
    if path.is_file():
        rename = {"beat": "beat_strength", "us_pop_estimate": "us_popularity_estimate"}
        for line in path.read_text().splitlines():
            if line.strip():
                name, *values = line.split()
                q1, median, q3, low, high = (float(v) for v in values[2:7])
                stats[rename.get(name, name)] = (q1, median, q3, low, high)
    values = features.assign(mode=(features["mode"] == "major").astype(float))
    for name, (q1, median, q3, low, high) in stats.items():
        column = values[name].astype(float)
        tolerance = 0.1 * (q3 - q1) + 1e-3 * max(abs(median), 1e-3)
        for level, reference in zip((0.25, 0.5, 0.75), (q1, median, q3), strict=True):
            close_value = abs(column.quantile(level) - reference) <= tolerance
            # where the distribution is steep, compare the share below the reference instead
            below, at_most = (column < reference).mean(), (column <= reference).mean()
            close_share = below - 0.02 <= level <= at_most + 0.02
            assert close_value or close_share, (name, level, column.quantile(level), reference)
        assert column.min() >= low - 1e-3 and column.max() <= high + 1e-3, name


def test_features_carry_latent_information(small: SyntheticDataset, features: pd.DataFrame) -> None:
    latents = np.load(small.track_latents).astype(np.float64)
    numeric = features.drop(columns=["track_id", "mode"]).to_numpy(np.float64)
    numeric = (numeric - numeric.mean(0)) / numeric.std(0)
    coef, *_ = np.linalg.lstsq(np.c_[numeric, np.ones(len(numeric))], latents, rcond=None)
    residual = latents - np.c_[numeric, np.ones(len(numeric))] @ coef
    r2 = 1 - residual.var(0) / latents.var(0)
    assert r2.mean() > 0.5


# -- ground truth --------------------------------------------------------------------------------


def test_ground_truth_aligned(log: pd.DataFrame, truth: pd.DataFrame) -> None:
    assert list(truth.columns) == [
        "session_id",
        "session_position",
        "p_skip_1",
        "p_skip_2",
        "p_skip_3",
    ]
    assert len(truth) == len(log)
    assert (truth["session_id"].to_numpy() == log["session_id"].to_numpy()).all()
    assert (truth["session_position"].to_numpy() == log["session_position"].to_numpy()).all()
    p = truth[["p_skip_1", "p_skip_2", "p_skip_3"]].to_numpy()
    assert ((p > 0) & (p < 1)).all()
    assert (np.diff(p, axis=1) > 0).all()


def test_ground_truth_calibrated_and_learnable(log: pd.DataFrame, truth: pd.DataFrame) -> None:
    for k in (1, 2, 3):
        assert abs(truth[f"p_skip_{k}"].mean() - log[f"skip_{k}"].mean()) < 0.01
    auc = _auc(log["skip_2"].to_numpy(), truth["p_skip_2"].to_numpy())
    assert auc > 0.7


def test_skips_depend_on_history(log: pd.DataFrame) -> None:
    previous = log.groupby("session_id", sort=False)["skip_2"].shift()
    later = previous.notna()
    after_skip = log.loc[later & (previous == True), "skip_2"].mean()  # noqa: E712
    after_play = log.loc[later & (previous == False), "skip_2"].mean()  # noqa: E712
    assert after_skip - after_play > 0.25
    first = log.loc[log["session_position"] == 1, "skip_2"].mean()
    assert first < log["skip_2"].mean() - 0.05


def test_truth_json(small: SyntheticDataset) -> None:
    document = json.loads(small.truth.read_text())
    assert document["format_version"] == 1
    assert document["config"]["seed"] == 7 and document["config"]["n_sessions"] == 3_000
    assert "ordered logit" in document["model"]
    assert len(document["model"]) > 1_000
    assert len(document["config"]["params"]["cut_points"]) == 3
    assert set(document["stats"]["outcome_mix"]) == set(OUTCOMES)


# -- determinism, atomic writes, formats ----------------------------------------------------------


def _tiny(seed: int = 3, **kwargs: object) -> SyntheticConfig:
    return SyntheticConfig(n_sessions=200, n_tracks=500, seed=seed, chunk_sessions=80, **kwargs)


def _file_bytes(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def test_same_seed_identical_bytes(tmp_path: Path) -> None:
    first = generate(_tiny(), tmp_path / "a")
    second = generate(_tiny(), tmp_path / "b")
    assert _file_bytes(first.root) == _file_bytes(second.root)
    assert len(first.log_files) == 3


def test_different_seed_differs(tmp_path: Path) -> None:
    first = generate(_tiny(seed=3), tmp_path / "a")
    second = generate(_tiny(seed=4), tmp_path / "b")
    for name in ("log/part-00000.parquet", "track_features.parquet", "ground_truth.parquet"):
        assert (first.root / name).read_bytes() != (second.root / name).read_bytes()
    a, b = pd.read_parquet(first.log_files[0]), pd.read_parquet(second.log_files[0])
    assert not set(a["session_id"]) & set(b["session_id"])


def test_atomic_write_and_replace(tmp_path: Path) -> None:
    target = tmp_path / "set"
    generate(_tiny(seed=3), target)
    generate(_tiny(seed=4), target)
    assert json.loads((target / "truth.json").read_text())["config"]["seed"] == 4
    assert sorted(p.name for p in tmp_path.iterdir()) == ["set"]
    with pytest.raises(FileExistsError, match="overwrite"):
        generate(_tiny(), target, overwrite=False)
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("keep me")
    with pytest.raises(FileExistsError, match="not a synthetic MSSD set"):
        generate(_tiny(), other)
    assert (other / "notes.txt").read_text() == "keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other", "set"]


def test_crash_leaves_no_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*args: object, **kwargs: object) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(generator.np, "save", fail)
    with pytest.raises(RuntimeError, match="disk full"):
        generate(_tiny(), tmp_path / "set")
    assert list(tmp_path.iterdir()) == []


def test_csv_format(tmp_path: Path) -> None:
    dataset = generate(_tiny(format="csv.gz"), tmp_path / "csv")
    assert dataset.log_files[0].name == "part-00000.csv.gz"
    with gzip.open(dataset.log_files[0], "rt") as handle:
        header, first = handle.readline().strip(), handle.readline().strip()
    assert header == ",".join(LOG_COLUMN_NAMES)
    fields = dict(zip(LOG_COLUMN_NAMES, first.split(","), strict=True))
    assert fields["skip_1"] in ("True", "False") and fields["premium"] in ("True", "False")
    assert fields["date"].startswith("2018-07-") and fields["session_position"] == "1"
    as_csv = pd.concat([pd.read_csv(p) for p in dataset.log_files], ignore_index=True)
    as_parquet = pd.concat(
        [pd.read_parquet(p) for p in generate(_tiny(), tmp_path / "pq").log_files],
        ignore_index=True,
    )
    assert (as_csv["skip_2"] == as_parquet["skip_2"]).all()
    assert (as_csv["track_id_clean"] == as_parquet["track_id_clean"]).all()
    tracks = pd.read_csv(dataset.track_features)
    assert tuple(tracks.columns) == FEATURE_COLUMN_NAMES


# -- configuration, CLI, cache --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"n_sessions": 0}, ValueError, r"n_sessions \(0\) must be at least 1"),
        ({"n_tracks": -5}, ValueError, r"n_tracks \(-5\) must be at least 1"),
        ({"n_tracks": 3}, ValueError, "n_candidates"),
        ({"latent_dim": 0}, ValueError, "latent_dim"),
        ({"chunk_sessions": 0}, ValueError, "chunk_sessions"),
        ({"seed": -1}, ValueError, "seed"),
        ({"format": "json"}, ValueError, r"format \('json'\) must be one of"),
        ({"n_sessions": 2.5}, TypeError, "n_sessions must be an int"),
        ({"seed": "0"}, TypeError, "seed must be an int"),
    ],
)
def test_config_validation(kwargs: dict, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        SyntheticConfig(**kwargs)


def test_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser()
    generate_command.add_arguments(parser)
    for action in parser._actions:
        assert action.help, action.dest
    args = parser.parse_args(
        [
            "--sessions",
            "100",
            "--tracks",
            "300",
            "--seed",
            "1",
            "--out",
            str(tmp_path / "cli"),
            "--no-progress",
        ]
    )
    assert generate_command.run(args) == 0
    out = capsys.readouterr().out
    assert "sessions" in out and "skip_2 rate" in out
    assert SyntheticDataset.from_dir(tmp_path / "cli").n_sessions == 100
    bad = parser.parse_args(["--sessions", "0", "--out", str(tmp_path / "bad")])
    assert generate_command.run(bad) == 2
    assert "n_sessions (0)" in capsys.readouterr().err


def test_cache_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MUSICGYM_CACHE", str(tmp_path / "mg"))
    assert cache.cache_dir() == tmp_path / "mg"
    monkeypatch.delenv("MUSICGYM_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache.cache_dir() == tmp_path / "xdg" / "musicgym"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache.cache_dir() == tmp_path / "home" / ".cache" / "musicgym"


def test_default_synthetic_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MUSICGYM_CACHE", str(tmp_path))
    folder = default.default_synthetic_dir()
    assert folder.parent == tmp_path and "synthetic-v" in folder.name
    dataset = SyntheticDataset.from_dir(folder)
    assert (dataset.n_sessions, dataset.n_tracks) == (5_000, 20_000)
    assert 0.50 <= dataset.skip_2_rate <= 0.54
    stamp = dataset.truth.stat().st_mtime_ns
    assert default.default_synthetic_dir() == folder
    assert dataset.truth.stat().st_mtime_ns == stamp
    # besides the data only its lock file (hidden)
    assert [p.name for p in tmp_path.iterdir() if not p.name.startswith(".")] == [folder.name]


def test_generate_never_replaces_a_set_holding_the_users_files(tmp_path: Path) -> None:
    out = tmp_path / "set"
    generate(_tiny(), out)
    generate(_tiny(), out)  # an earlier set, alone, is replaced
    (out / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="notes.txt"):
        generate(_tiny(), out)
    assert (out / "notes.txt").read_text() == "mine"
    assert (out / "truth.json").is_file()
