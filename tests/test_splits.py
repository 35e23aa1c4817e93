"""Deterministic session splits: by hash and by date."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from musicgym.data.prepare import PrepareOptions, prepare
from musicgym.data.splits import (
    SplitSpec,
    assign_splits,
    cross_fit_specs,
    session_hash_unit,
    train_fold,
)
from musicgym.synthetic.generator import SyntheticConfig, generate


def sessions(n: int = 2000) -> pd.DataFrame:
    ids = [f"0_{i:05d}-abc" for i in range(n)]
    dates = pd.date_range("2018-07-01", periods=10).repeat(n // 10)
    return pd.DataFrame({"session_id": ids, "hash_unit": session_hash_unit(ids), "date": dates})


def test_hash_unit_is_md5_prefix() -> None:
    unit = session_hash_unit(["abc"])[0]
    assert unit == int(hashlib.md5(b"abc").hexdigest()[:13], 16) / 2**52
    assert unit == pytest.approx(0.562520062606219)


def test_hash_unit_is_the_prepared_one(tmp_path: Path) -> None:
    """The Python function and prepare's SQL give every session the same unit, bit for bit."""
    data = generate(SyntheticConfig(n_sessions=300, n_tracks=200, seed=4), tmp_path / "syn")
    sessions = prepare(data.log_dir, tmp_path / "prep", options=PrepareOptions(progress=False)
                       ).sessions
    ids = sessions["session_id"].tolist()
    np.testing.assert_array_equal(session_hash_unit(ids), sessions["hash_unit"].to_numpy())
    shuffled = ids[::-1]
    np.testing.assert_array_equal(session_hash_unit(shuffled),
                                  sessions["hash_unit"].to_numpy()[::-1])
    assert session_hash_unit([]).shape == (0,)


def test_session_split_is_deterministic_and_proportional() -> None:
    frame = sessions()
    labels = assign_splits(frame)
    assert np.array_equal(labels, assign_splits(frame.sample(frac=1, random_state=1).sort_index()))
    shares = pd.Series(labels).value_counts(normalize=True)
    assert shares["train"] == pytest.approx(0.8, abs=0.03)
    assert shares["test"] == pytest.approx(0.1, abs=0.02)
    # a session keeps its split when other sessions come and go
    half = assign_splits(frame.iloc[::2])
    assert np.array_equal(half, labels[::2])


def test_date_split_keeps_dates_whole_and_latest_last() -> None:
    frame = sessions()
    labels = assign_splits(frame, SplitSpec(validation=0.1, test=0.2, by="date"))
    by_date = pd.DataFrame({"date": frame["date"], "split": labels}).groupby("date")["split"]
    assert (by_date.nunique() == 1).all()
    first = by_date.first()
    assert list(first.iloc[-2:]) == ["test", "test"] and first.iloc[-3] == "validation"
    assert (first.iloc[:7] == "train").all()


@pytest.mark.parametrize("kwargs", [{"test": 1.2}, {"validation": 0.5, "test": 0.5},
                                    {"by": "week"}])
def test_bad_spec_is_refused(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        SplitSpec(**kwargs)


def test_cross_fit_folds_partition_the_sessions() -> None:
    frame = sessions()
    specs = cross_fit_specs(5)
    tests = np.stack([assign_splits(frame, spec) == "test" for spec in specs])
    assert (tests.sum(axis=0) == 1).all()
    assert tests.sum(axis=1) == pytest.approx([400] * 5, abs=60)
    for spec, is_test in zip(specs, tests, strict=True):
        labels = assign_splits(frame, spec)
        assert (labels[~is_test] != "test").all()
        assert (labels == "validation").mean() == pytest.approx(0.1, abs=0.03)
    with pytest.raises(ValueError, match="folds"):
        cross_fit_specs(1)


def test_train_halves_are_disjoint_and_keep_validation_and_test() -> None:
    frame = sessions()
    full = assign_splits(frame)
    a = assign_splits(frame, SplitSpec(train_half=0))
    b = assign_splits(frame, SplitSpec(train_half=1))
    assert not ((a == "train") & (b == "train")).any()
    np.testing.assert_array_equal((a == "train") | (b == "train"), full == "train")
    np.testing.assert_array_equal(a == "test", full == "test")
    assert (a == "train").mean() == pytest.approx(0.4, abs=0.04)


@pytest.mark.parametrize("spec", [SplitSpec(), SplitSpec(train_half=0), SplitSpec(train_half=1),
                                  SplitSpec(offset=0.4), SplitSpec(by="date")])
def test_train_folds_cut_the_training_sessions_into_equal_disjoint_parts(spec: SplitSpec
                                                                         ) -> None:
    unit = np.random.default_rng(0).random(60_000)
    if spec.by == "date":
        training = np.ones(len(unit), bool)
    else:
        training = assign_splits(pd.DataFrame({"hash_unit": unit}), spec) == "train"
    fold = train_fold(unit[training], spec, 3)
    shares = np.bincount(fold, minlength=3) / training.sum()
    assert fold.min() == 0 and fold.max() == 2
    assert np.allclose(shares, 1 / 3, atol=0.01)
