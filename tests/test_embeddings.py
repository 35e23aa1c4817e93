
import numpy as np
import pandas as pd
import pytest

from musicgym.data.schema import NUMERIC_FEATURES
from musicgym.embeddings import (
    FEATURE_NAMES,
    TrackEmbeddings,
    combine,
    encode_log,
    from_cooccurrence,
    from_features,
    topk,
)

from .conftest import SHARED_DATA

DATA = SHARED_DATA / "mssd"


def random_embeddings(n: int = 50, dim: int = 6, seed: int = 0) -> TrackEmbeddings:
    rng = np.random.default_rng(seed)
    ids = [f"t_{i:04d}" for i in range(n)]
    fallback = rng.random(n) < 0.2
    return TrackEmbeddings(ids, rng.standard_normal((n, dim)), fallback, {"source": "test"})


def brute_topk(catalog, queries, k, metric, exclude):
    catalog = catalog.astype(np.float64)
    queries = np.atleast_2d(queries).astype(np.float64)
    if metric == "cosine":
        catalog = catalog / np.linalg.norm(catalog, axis=1, keepdims=True)
        queries = queries / np.linalg.norm(queries, axis=1, keepdims=True)
    scores = queries @ catalog.T
    rows = []
    for i, s in enumerate(scores):
        s = s.copy()
        s[exclude[i]] = -np.inf
        rows.append(np.lexsort((np.arange(s.size), -s))[:k])
    return np.array(rows), np.take_along_axis(scores, np.array(rows), axis=1)


# ----- id <-> row <-> vector ------------------------------------------------------------------


def test_id_row_round_trip():
    emb = random_embeddings()
    rows = np.array([3, 0, 49, 7])
    assert np.array_equal(emb.rows(emb.ids[rows]), rows)
    assert emb.rows("t_0005") == 5
    np.testing.assert_array_equal(emb.vectors(["t_0002", "t_0009"]), emb.matrix[[2, 9]])
    assert emb.vectors("t_0002").shape == (6,)
    assert len(emb) == 50 and emb.dim == 6 and emb.matrix.dtype == np.float32
    assert "t_0001" in emb and "nope" not in emb


def test_unknown_id_names_first_and_count():
    emb = random_embeddings()
    with pytest.raises(KeyError, match=r"2 of 3 track ids.*'x_1'"):
        emb.rows(["t_0001", "x_1", "x_2"])


def test_constructor_rejects_bad_input():
    with pytest.raises(ValueError, match="unique"):
        TrackEmbeddings(["a", "a"], np.zeros((2, 3)))
    with pytest.raises(ValueError, match="non-finite"):
        TrackEmbeddings(["a"], np.array([[np.nan, 1.0]]))
    with pytest.raises(ValueError, match="must be"):
        TrackEmbeddings(["a", "b"], np.zeros((3, 2)))


# ----- files ---------------------------------------------------------------------------------


def test_save_load_identical(tmp_path):
    emb = random_embeddings()
    path = emb.save(tmp_path / "emb.npz")
    back = TrackEmbeddings.load(path)
    np.testing.assert_array_equal(back.ids, emb.ids)
    np.testing.assert_array_equal(back.matrix, emb.matrix)
    np.testing.assert_array_equal(back.fallback, emb.fallback)
    assert back.metadata["source"] == "test" and back.metadata["format_version"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["emb.npz"]  # no temp file left behind


def test_load_rejects_wrong_or_old_files(tmp_path):
    np.savez(tmp_path / "other.npz", x=np.zeros(3))
    with pytest.raises(ValueError, match="not a musicgym embeddings file"):
        TrackEmbeddings.load(tmp_path / "other.npz")
    (tmp_path / "junk.npz").write_text("not a zip")
    with pytest.raises(ValueError, match="not a readable"):
        TrackEmbeddings.load(tmp_path / "junk.npz")
    emb = random_embeddings()
    emb.metadata["format_version"] = 0
    meta = '{"format": "musicgym.track_embeddings", "format_version": 0}'
    old = {"ids": emb.ids, "vectors": emb.matrix, "fallback": emb.fallback, "metadata": meta}
    np.savez(tmp_path / "old.npz", **old)
    with pytest.raises(ValueError, match="version 0.*rebuild"):
        TrackEmbeddings.load(tmp_path / "old.npz")


def test_csv_round_trip(tmp_path):
    emb = random_embeddings()
    path = emb.to_csv(tmp_path / "embeddings.csv")
    header = path.read_text().splitlines()[0].split(",")
    assert header[0] == "track_id" and len(header) == 1 + emb.dim
    back = TrackEmbeddings.from_csv(path)
    np.testing.assert_array_equal(back.ids, emb.ids)
    np.testing.assert_array_equal(back.matrix, emb.matrix)  # float32 exactly


# ----- top-k ---------------------------------------------------------------------------------


@pytest.mark.parametrize("metric", ["dot", "cosine"])
def test_topk_matches_brute_force_with_exclusion(metric):
    rng = np.random.default_rng(1)
    catalog = rng.standard_normal((300, 8)).astype(np.float32)
    queries = rng.standard_normal((20, 8)).astype(np.float32)
    exclude = [rng.choice(300, size=i % 5, replace=False) for i in range(20)]
    rows, scores = topk(catalog, queries, 10, metric, exclude)
    want_rows, want_scores = brute_topk(catalog, queries, 10, metric, exclude)
    np.testing.assert_array_equal(rows, want_rows)
    np.testing.assert_allclose(scores, want_scores, rtol=1e-5, atol=1e-5)
    assert np.all(np.diff(scores, axis=1) <= 0)
    for r, e in zip(rows, exclude, strict=True):
        assert not np.isin(r, e).any()


def test_topk_chunked_equals_unchunked_and_breaks_ties_by_row():
    rng = np.random.default_rng(2)
    # small integers: every dot product is exact in float32, so ties are everywhere and exact
    catalog = rng.integers(-2, 3, size=(257, 4)).astype(np.float32)
    queries = rng.integers(-2, 3, size=(10, 4)).astype(np.float32)
    exclude = np.array([5, 120])
    full = topk(catalog, queries, 25, "dot", exclude)
    chunked = topk(catalog, queries, 25, "dot", exclude, catalog_chunk=16, query_chunk=3)
    want = brute_topk(catalog, queries, 25, "dot", [exclude] * 10)
    np.testing.assert_array_equal(full[0], want[0])
    np.testing.assert_array_equal(chunked[0], want[0])
    np.testing.assert_array_equal(full[1], chunked[1])
    rng = np.random.default_rng(3)
    catalog = rng.standard_normal((257, 5)).astype(np.float32)
    queries = rng.standard_normal((10, 5)).astype(np.float32)
    full = topk(catalog, queries, 25, "cosine")
    chunked = topk(catalog, queries, 25, "cosine", catalog_chunk=16, query_chunk=3)
    np.testing.assert_array_equal(full[0], chunked[0])
    # BLAS may round a score differently in another block shape (1 ulp); rows are equal.
    np.testing.assert_allclose(full[1], chunked[1], rtol=1e-6)


def test_topk_single_query_and_exhausted_catalog():
    emb = random_embeddings(n=5, dim=3)
    rows, scores = emb.topk(emb.matrix[0], k=10, exclude_rows=np.array([0, 1]))
    assert rows.shape == (5,)
    assert rows[-2:].tolist() == [-1, -1] and np.isneginf(scores[-2:]).all()
    assert set(rows[:3].tolist()) == {2, 3, 4}


def test_from_features_on_real_sample():
    path = DATA / "track_features_sample.csv"
    if not path.exists():
        pytest.skip(f"{path} is absent")
    features = pd.read_csv(path)
    emb = from_features(None, features)
    assert len(emb) == 175 and emb.dim == len(NUMERIC_FEATURES) + 1
    assert np.isfinite(emb.matrix).all() and not emb.fallback.any()
    np.testing.assert_allclose(emb.matrix.mean(axis=0), 0, atol=1e-5)
    projected = from_features(features["track_id"][:100], features, dim=8)
    assert projected.matrix.shape == (100, 8) and np.isfinite(projected.matrix).all()


def test_from_features_imputes_nan_and_flags_absent_tracks():
    rng = np.random.default_rng(3)
    frame = pd.DataFrame({name: rng.random(6) for name in FEATURE_NAMES if name != "mode"})
    frame["mode"] = ["major", "minor"] * 3
    frame.insert(0, "track_id", [f"t{i}" for i in range(6)])
    frame.loc[2, "energy"] = np.nan
    emb = from_features(["t0", "t2", "unknown"], frame)
    assert np.isfinite(emb.matrix).all()
    assert emb.fallback.tolist() == [False, False, True]
    assert emb.metadata["n_imputed"] == 1
    np.testing.assert_array_equal(emb.vectors("unknown"), 0)


# ----- co-occurrence ---------------------------------------------------------------------------


def two_group_log(rng, n_sessions=60):
    """Sessions drawn from group A (tracks 0-5) or group B (6-11); track 12 is played once."""
    sessions, tracks = [], []
    for s in range(n_sessions):
        base = 0 if s % 2 == 0 else 6
        picks = base + rng.permutation(6)[: rng.integers(3, 7)]
        sessions += [s] * len(picks)
        tracks += picks.tolist()
    sessions += [n_sessions] * 2
    tracks += [12, 0]
    return np.array(sessions), np.array(tracks)


def test_cooccurrence_separates_groups_and_flags_rare():
    sessions, tracks = two_group_log(np.random.default_rng(4))
    emb = from_cooccurrence(sessions, tracks, 13, dim=4, min_count=2, seed=0)
    unit = emb.matrix / np.linalg.norm(emb.matrix, axis=1, keepdims=True)
    cos = unit @ unit.T
    group = np.array([0] * 6 + [1] * 6)
    same = cos[:12, :12][(group[:, None] == group[None, :]) & ~np.eye(12, dtype=bool)]
    cross = cos[:12, :12][group[:, None] != group[None, :]]
    assert same.min() > cross.max()
    assert emb.fallback.tolist() == [False] * 12 + [True]
    # the rare track's only neighbour is track 0, so it inherits track 0's vector
    np.testing.assert_allclose(emb.matrix[12], emb.matrix[0], rtol=1e-6)


def test_cooccurrence_is_deterministic_and_window_matters():
    sessions, tracks = two_group_log(np.random.default_rng(5))
    a = from_cooccurrence(sessions, tracks, 13, dim=3, seed=7)
    b = from_cooccurrence(sessions, tracks, 13, dim=3, seed=7)
    np.testing.assert_array_equal(a.matrix, b.matrix)
    w = from_cooccurrence(sessions, tracks, 13, dim=3, seed=7, window=1)
    assert not np.allclose(w.matrix, a.matrix)


@pytest.mark.parametrize("solver", ["randomized", "arpack"])
def test_cooccurrence_sparse_solvers_are_deterministic_and_exact(monkeypatch, solver):
    import musicgym.embeddings.cooccurrence as co

    sessions, tracks = two_group_log(np.random.default_rng(6))
    dense = from_cooccurrence(sessions, tracks, 13, dim=3, seed=1)
    monkeypatch.setattr(co, "DENSE_SVD_MAX", 5)
    a = from_cooccurrence(sessions, tracks, 13, dim=3, seed=1, solver=solver)
    b = from_cooccurrence(sessions, tracks, 13, dim=3, seed=1, solver=solver)
    np.testing.assert_array_equal(a.matrix, b.matrix)
    singular = a.metadata["singular_values"]
    assert singular == sorted(singular, reverse=True)
    np.testing.assert_allclose(singular, dense.metadata["singular_values"], rtol=1e-4)


@pytest.mark.parametrize("window", [None, 2])
def test_cooccurrence_counts_in_blocks_of_whole_sessions_equal_one_pass(window):
    import musicgym.embeddings.cooccurrence as co

    rng = np.random.default_rng(8)
    lengths = rng.integers(1, 21, 300)
    sessions = np.repeat(np.arange(300), lengths)
    tracks = rng.integers(0, 40, sessions.size)
    whole = co.cooccurrence_counts(sessions, tracks, 40, window, block_rows=sessions.size)
    # by hand: every pair of positions of a session (within the window), both ways
    expected = np.zeros((40, 40))
    for s in range(300):
        played = tracks[sessions == s]
        for i in range(len(played)):
            for j in range(i + 1, len(played)):
                if played[i] != played[j] and (window is None or j - i <= window):
                    expected[played[i], played[j]] += 1
                    expected[played[j], played[i]] += 1
    np.testing.assert_array_equal(whole.toarray(), expected)
    for block_rows in (1, 7, 1000):  # smaller than a session, a few sessions, many
        blocked = co.cooccurrence_counts(sessions, tracks, 40, window, block_rows=block_rows)
        assert blocked.has_canonical_format
        np.testing.assert_array_equal(blocked.indptr, whole.indptr)
        np.testing.assert_array_equal(blocked.indices, whole.indices)
        np.testing.assert_array_equal(blocked.data, whole.data)


def test_cooccurrence_rejects_interleaved_sessions():
    with pytest.raises(ValueError, match="contiguous"):
        from_cooccurrence(np.array([0, 1, 0]), np.array([0, 1, 2]), 3)


def test_encode_log_and_real_sample():
    path = DATA / "log_sample.csv.gz"
    if not path.exists():
        pytest.skip(f"{path} is absent")
    log = pd.read_csv(path, usecols=["session_id", "track_id_clean"])
    sessions, tracks, vocab = encode_log(log["session_id"], log["track_id_clean"])
    emb = from_cooccurrence(sessions, tracks, len(vocab), track_ids=vocab, dim=16)
    assert len(emb) == 30_082 and np.isfinite(emb.matrix).all()
    assert 0 < emb.metadata["n_embedded"] < len(emb)
    assert emb.fallback.sum() == len(emb) - emb.metadata["n_embedded"]


# ----- combine -------------------------------------------------------------------------------


def test_combine_aligns_by_id_and_standardizes_blocks():
    a = random_embeddings(n=10, dim=4, seed=8)
    rng = np.random.default_rng(9)
    b_ids = list(a.ids[::-1][:8]) + ["extra"]
    b = TrackEmbeddings(b_ids, 100 * rng.standard_normal((9, 2)), np.zeros(9, bool))
    both = combine(a, b, weights=(1.0, 2.0))
    assert both.dim == 6 and len(both) == 11 and both.ids[-1] == "extra"
    block_a, block_b = both.matrix[:, :4], both.matrix[:, 4:]
    rms_b = np.sqrt((block_b[both.rows(b_ids)] ** 2).sum(axis=1).mean())
    np.testing.assert_allclose(rms_b, 2.0, rtol=1e-5)
    np.testing.assert_array_equal(block_b[both.rows(["t_0000", "t_0001"])], 0)  # absent from b
    np.testing.assert_array_equal(block_a[-1], 0)  # "extra" is absent from a
    expected = np.zeros(11, bool)  # every track present in b is a real vector there
    expected[[0, 1]] = a.fallback[[0, 1]]  # absent from b: fallback iff fallback in a
    assert both.fallback.tolist() == expected.tolist()
