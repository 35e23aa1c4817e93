"""Decoding at catalog scale: the "dot" candidate pool and the faiss HNSW index of
`ActionDecoder`, and their env arguments.

Each must agree with exact decoding whenever it holds the exact best track, never return a
banned track (played, or earlier in the slate), fall back to exact search when all of its
candidates are banned, and build deterministically. The argument checks and the pool run
without faiss.
"""

from __future__ import annotations

import sys
import time
import warnings

import gymnasium as gym
import numpy as np
import pytest

import musicgym  # noqa: F401  (registers MusicRec-v0)
from musicgym.envs import decoder as decoder_module
from musicgym.envs import pool as pool_module
from musicgym.envs.config import EnvArgumentError, EnvConfig
from musicgym.envs.decoder import ActionDecoder, IndexSpec

EXACT = IndexSpec(kind="exact")
FORCED = IndexSpec(kind="faiss", threshold=0)
"""Through the HNSW index at any size (faiss must be installed)."""
POOLED = IndexSpec(kind="auto", threshold=0)
"""Through the candidate pool ("dot") or the HNSW index ("nearest") at any size."""


def unit(rng: np.random.Generator, n: int, dim: int) -> np.ndarray:
    v = rng.standard_normal((n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def catalog(n: int = 2000, dim: int = 8, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Vectors of n tracks (norms 0.5 to 1, so "dot" and "nearest" differ) and their rows."""
    rng = np.random.default_rng(seed)
    vectors = unit(rng, n, dim) * rng.uniform(0.5, 1.0, (n, 1)).astype(np.float32)
    # simulator rows are not catalog positions: every third row, shifted
    return vectors, 7 + 3 * np.arange(n)


def no_faiss(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make `import faiss` fail, as when it is not installed."""
    monkeypatch.setitem(sys.modules, "faiss", None)


# ---- arguments (no faiss needed) -----------------------------------------------------------

@pytest.mark.parametrize(("kwargs", "words"), [
    ({"decoder_index": "annoy"}, ["decoder_index", "'annoy'", "'auto', 'exact', 'faiss'"]),
    ({"decoder_index": None}, ["decoder_index", "one of"]),
    ({"index_threshold": -1}, ["index_threshold", "-1", "at least 0"]),
    ({"index_threshold": 1.5}, ["index_threshold", "not a float"]),
    ({"index_threshold": True}, ["index_threshold", "not a bool"]),
    ({"index_hnsw_m": 1}, ["index_hnsw_m", "from 2 to 256"]),
    ({"index_hnsw_m": 1000}, ["index_hnsw_m", "from 2 to 256"]),
    ({"index_ef_search": 0}, ["index_ef_search", "at least 1"]),
    ({"index_ef_search": "64"}, ["index_ef_search", "not a str"]),
])
def test_bad_index_arguments_are_refused_by_name(kwargs: dict, words: list[str]) -> None:
    for make in (lambda: EnvConfig(**kwargs), lambda: gym.make("MusicRec-v0", **kwargs)):
        with pytest.raises(EnvArgumentError) as err:
            make()
        message = str(err.value)
        assert "\n" not in message
        for word in words:
            assert word in message


def test_index_arguments_reach_the_decoder_spec() -> None:
    config = EnvConfig.from_kwargs(decoder_index="exact", index_threshold=np.int64(5),
                                   index_hnsw_m=16, index_ef_search=128)
    spec = IndexSpec.of(config)
    assert spec == IndexSpec("exact", 5, 16, 128)
    assert type(spec.threshold) is int
    defaults = IndexSpec.of(EnvConfig())
    assert defaults == IndexSpec() == IndexSpec("auto", 100_000, 32, 64)
    with pytest.raises(EnvArgumentError, match="index_hnsw_m"):
        IndexSpec(hnsw_m=0)
    with pytest.raises(EnvArgumentError, match="decoding"):
        ActionDecoder(*catalog(50), "angle")


def test_faiss_asked_for_but_missing_names_the_argument_and_the_install(
        monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    no_faiss(monkeypatch)
    # reported before the data path is even looked at
    with pytest.raises(EnvArgumentError) as err:
        EnvConfig(data=tmp_path / "missing", decoder_index="faiss")
    message = str(err.value)
    assert "decoder_index='faiss'" in message and 'pip install -e ".[faiss]"' in message
    assert "\n" not in message
    with pytest.raises(EnvArgumentError) as err:
        ActionDecoder(*catalog(50), "dot", IndexSpec(kind="faiss"))
    assert str(err.value) == message
    # exact and small "auto" catalogs do not need faiss
    assert ActionDecoder(*catalog(50), "dot", IndexSpec(kind="exact")).index is None
    assert EnvConfig(decoder_index="exact").decoder_index == "exact"


def test_auto_without_faiss_searches_exactly_and_warns_once(
        monkeypatch: pytest.MonkeyPatch) -> None:
    no_faiss(monkeypatch)
    monkeypatch.setattr(decoder_module, "_warned_no_faiss", False)
    vectors, rows = catalog(300)
    with pytest.warns(RuntimeWarning, match=r"all 300 .*index_threshold=100.*faiss"):
        auto = ActionDecoder(vectors, rows, "nearest", IndexSpec(threshold=100))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        again = ActionDecoder(vectors, rows, "nearest", IndexSpec(threshold=100))
        small = ActionDecoder(vectors, rows, "nearest", IndexSpec(threshold=301))
        # "dot" above the threshold searches the candidate pool, which needs no faiss
        pooled = ActionDecoder(vectors, rows, "dot", IndexSpec(threshold=100))
    assert auto.index is None and again.index is None and small.index is None
    assert auto.pool is None and pooled.pool is not None and pooled.index is None
    protos = np.random.default_rng(1).uniform(-1, 1, (16, 2, vectors.shape[1]))
    played = np.full((16, 3), -1)
    exact = ActionDecoder(vectors, rows, "nearest", EXACT)
    assert np.array_equal(auto.decode(protos, played)[0], exact.decode(protos, played)[0])


def test_small_catalogs_are_searched_exactly_under_auto() -> None:
    vectors, rows = catalog(500)
    for decoding in ("dot", "nearest", "cosine"):
        decoder = ActionDecoder(vectors, rows, decoding)  # default threshold 100,000
        assert decoder.index is None and decoder.pool is None


def test_cosine_decoding_picks_the_highest_cosine_whatever_the_vector_length() -> None:
    vectors, rows = catalog(2000)
    cosine = ActionDecoder(vectors, rows, "cosine", EXACT)
    dot = ActionDecoder(vectors, rows, "dot", EXACT)
    np.testing.assert_allclose(np.linalg.norm(cosine.vectors, axis=1), 1.0, rtol=1e-6)
    rng = np.random.default_rng(7)
    protos = rng.uniform(-1, 1, (300, 2, vectors.shape[1])).astype(np.float32)
    played = rng.choice(rows, (300, 5))
    tracks, _ = cosine.decode(protos, played)
    # brute force: the allowed track whose vector makes the smallest angle with the proto
    angle = (protos[:, 0] @ vectors.T) / np.linalg.norm(vectors, axis=1)[None, :]
    angle[(rows[None, None, :] == played[:, :, None]).any(1)] = -np.inf
    assert np.array_equal(tracks[:, 0], rows[angle.argmax(axis=1)])
    assert not (tracks[:, :, None] == played[:, None, :]).any()
    assert (tracks[:, 0] != tracks[:, 1]).all()
    # vector lengths from 0.5 to 1 make "dot" prefer long vectors: the two often differ
    by_dot = dot.decode(protos, played)[0][:, 0]
    assert 0.2 < (tracks[:, 0] != by_dot).mean() < 0.9
    length = np.linalg.norm(vectors, axis=1)
    chosen_length = length[cosine.catalog_index(tracks[:, 0])].mean()
    assert length[dot.catalog_index(by_dot)].mean() > chosen_length
    assert cosine.by_dot_product and dot.by_dot_product
    assert not ActionDecoder(vectors, rows, "nearest", EXACT).by_dot_product


# ---- the faiss index ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def faiss():
    return pytest.importorskip("faiss")


def decoders(decoding: str, n: int = 2000, **spec) -> tuple[ActionDecoder, ActionDecoder]:
    vectors, rows = catalog(n)
    return (ActionDecoder(vectors, rows, decoding, IndexSpec(kind="faiss", **spec)),
            ActionDecoder(vectors, rows, decoding, EXACT))


@pytest.mark.parametrize("decoding", ["dot", "nearest", "cosine"])
def test_recall_at_1_against_exact_on_20k_unit_vectors(faiss, decoding: str) -> None:
    rng = np.random.default_rng(2)
    vectors, protos = unit(rng, 20_000, 16), unit(rng, 1000, 16)[:, None, :]
    start = time.perf_counter()
    approx = ActionDecoder(vectors, np.arange(20_000), decoding, FORCED)
    build = time.perf_counter() - start
    exact = ActionDecoder(vectors, np.arange(20_000), decoding, EXACT)
    played = np.full((1000, 20), -1)
    timing = {}
    for name, d in (("index", approx), ("exact", exact)):
        start = time.perf_counter()
        timing[name] = d.decode(protos, played)[0][:, 0]
        timing[name + "_s"] = time.perf_counter() - start
    recall = float((timing["index"] == timing["exact"]).mean())
    print(f"{decoding}: recall@1 {recall:.4f}, build {build:.2f} s, 1000 protos: index "
          f"{timing['index_s'] * 1e3:.0f} ms, exact {timing['exact_s'] * 1e3:.0f} ms")
    assert approx.index is not None and approx.index.ntotal == 20_000
    assert approx.index.metric_type == (faiss.METRIC_L2 if decoding == "nearest"
                                        else faiss.METRIC_INNER_PRODUCT)
    assert recall >= 0.95


@pytest.mark.parametrize("decoding", ["dot", "nearest", "cosine"])
def test_index_decoding_equals_exact_decoding(faiss, decoding: str) -> None:
    approx, exact = decoders(decoding, ef_search=256)
    rng = np.random.default_rng(3)
    protos = rng.uniform(-1, 1, (200, 3, 8)).astype(np.float32)
    # histories of catalog rows, rows outside the catalog and empty slots
    played = rng.choice(approx.rows, (200, 12))
    played[:, -2] = 5  # not a catalog row
    played[rng.random((200, 12)) < 0.3] = -1
    tracks, distance = approx.decode(protos, played)
    want, want_distance = exact.decode(protos, played)
    assert np.array_equal(tracks, want)
    np.testing.assert_allclose(distance, want_distance, rtol=1e-6)


@pytest.mark.parametrize("decoding", ["dot", "nearest", "cosine"])
def test_banned_tracks_are_never_returned(faiss, decoding: str) -> None:
    approx, exact = decoders(decoding, ef_search=256)
    rng = np.random.default_rng(4)
    # every slot aims at the same spot, whose 15 best tracks are all played
    protos = np.repeat(rng.uniform(-1, 1, (64, 1, 8)).astype(np.float32), 4, axis=1)
    top = np.argsort(-exact.scores(protos[:, 0]), axis=1, kind="stable")[:, :15]
    played = exact.rows[top]
    tracks, _ = approx.decode(protos, played)
    assert not (tracks[:, :, None] == played[:, None, :]).any()
    assert all(len(set(slate)) == 4 for slate in tracks)
    # the slate is the 16th to 19th best tracks, as exact search finds
    assert np.array_equal(tracks, exact.rows[np.argsort(-exact.scores(protos[:, 0]), axis=1,
                                                        kind="stable")[:, 15:19]])
    assert np.array_equal(tracks, exact.decode(protos, played)[0])


class MissingIndex:
    """An index that misses: for the sessions in `stuck` it returns only banned tracks (or
    nothing); for the others, the real index's answer."""

    def __init__(self, real, banned: np.ndarray, stuck: set[int], slots: int) -> None:
        self.real, self.banned, self.stuck, self.slots = real, banned, stuck, slots
        self.calls: list[int] = []

    def search(self, x: np.ndarray, k: int):
        self.calls.append(k)
        distances, found = self.real.search(x, k)
        for query in range(len(x)):
            session = query // self.slots
            if session in self.stuck:
                found[query] = -1
                if session % 2:  # the others: nothing found at all
                    ban = self.banned[session][: k]
                    found[query, : len(ban)] = ban
        return distances, found


@pytest.mark.parametrize("decoding", ["dot", "nearest", "cosine"])
def test_sessions_whose_candidates_are_all_banned_fall_back_to_exact(faiss,
                                                                     decoding: str) -> None:
    approx, exact = decoders(decoding, n=500)
    rng = np.random.default_rng(5)
    protos = rng.uniform(-1, 1, (10, 3, 8)).astype(np.float32)
    positions = np.stack([rng.choice(500, 8, replace=False) for _ in range(10)])
    played = exact.rows[positions]
    stuck = {1, 4, 7, 8}
    approx.index = MissingIndex(approx.index, positions, stuck, slots=3)
    tracks, _ = approx.decode(protos, played)
    assert approx.index.calls == [8 + 3]  # one search: more than banned + slate
    assert np.array_equal(tracks, exact.decode(protos, played)[0])
    assert not (tracks[:, :, None] == played[:, None, :]).any()


def test_the_index_build_is_deterministic_and_leaves_faiss_threads_alone(faiss) -> None:
    before = faiss.omp_get_max_threads()
    vectors, rows = catalog(3000, dim=16, seed=6)
    first = ActionDecoder(vectors, rows, "dot", FORCED)
    second = ActionDecoder(vectors, rows, "dot", FORCED)
    assert np.array_equal(faiss.serialize_index(first.index),
                          faiss.serialize_index(second.index))
    assert faiss.omp_get_max_threads() == before
    protos = np.random.default_rng(7).uniform(-1, 1, (32, 2, 16))
    played = np.full((32, 1), -1)
    assert np.array_equal(first.decode(protos, played)[0], second.decode(protos, played)[0])
    assert faiss.omp_get_max_threads() == before


def test_env_with_the_index_plays_the_same_episode_as_exact(faiss) -> None:
    common = {"world": "truth", "slate_size": 3}
    envs = [gym.make("MusicRec-v0", decoder_index=kind, index_ef_search=256, **common)
            for kind in ("faiss", "exact")]
    assert envs[0].unwrapped.bundle.decoder.index is not None
    assert envs[1].unwrapped.bundle.decoder.index is None
    episodes = []
    for env in envs:
        env.action_space.seed(8)
        _, info = env.reset(seed=8)
        heard, slates, done = list(info["history_tracks"]), [], False
        while not done:
            _, _, terminated, truncated, info = env.step(env.action_space.sample())
            slate = [t for t, p in zip(info["tracks"], info["played"], strict=True) if p]
            assert not set(info["tracks"]) & set(heard) and len(set(info["tracks"])) == 3
            heard += slate
            slates.append(info["tracks"])
            done = terminated or truncated
        episodes.append(slates)
    assert episodes[0] == episodes[1]


# ---- the "dot" candidate pool (no faiss needed) ----------------------------------------------

def uneven(n: int, dim: int = 16, seed: int = 9) -> np.ndarray:
    """Vectors like a real catalog's: unequal spread per axis and norms spread over 10x."""
    rng = np.random.default_rng(seed)
    spread = np.linspace(1.0, 0.2, dim)
    norms = rng.lognormal(0.0, 0.5, (n, 1))
    return (rng.standard_normal((n, dim)) * spread * norms).astype(np.float32)


def test_pool_recall_at_1_against_exact_on_uneven_vectors() -> None:
    vectors = uneven(30_000)
    start = time.perf_counter()
    pooled = ActionDecoder(vectors, np.arange(30_000), "dot", POOLED)
    build = time.perf_counter() - start
    protos = np.random.default_rng(10).uniform(-1, 1, (2000, 1, 16)).astype(np.float32)
    found = pooled.decode(protos, np.full((2000, 1), -1))[0][:, 0]
    exact = (protos[:, 0] @ vectors.T).argmax(axis=1)
    recall = float((found == exact).mean())
    print(f"pool {len(pooled.pool)} of 30,000 tracks, built in {build:.2f} s, recall@1 {recall}")
    assert pooled.index is None and len(pooled.pool) < 10_000
    assert np.all(np.diff(pooled.pool) > 0)
    assert np.isin(found, pooled.pool).all()
    assert recall >= 0.95


def test_pooled_decoding_is_exact_whenever_the_best_track_is_in_the_pool() -> None:
    vectors, rows = catalog(3000, dim=8, seed=11)
    vectors *= np.random.default_rng(11).uniform(0.2, 1.0, (3000, 1)).astype(np.float32)
    pooled = ActionDecoder(vectors, rows, "dot", POOLED)
    exact = ActionDecoder(vectors, rows, "dot", EXACT)
    rng = np.random.default_rng(12)
    protos = rng.uniform(-1, 1, (400, 3, 8)).astype(np.float32)
    # histories of random catalog rows, foreign rows and empty slots; half the sessions have
    # heard the 12 best tracks for their first slot, so their next best is often not pooled
    best = np.argsort(-exact.scores(protos[:, 0]), axis=1, kind="stable")[:, :12]
    played = np.concatenate([rng.choice(rows, (400, 6)), np.full((400, 2), 5),
                             np.where(np.arange(400)[:, None] % 2, -1, rows[best])], axis=1)
    played[:, :8][rng.random((400, 8)) < 0.2] = -1
    tracks = pooled.decode(protos, played)[0]
    want = exact.decode(protos, played)[0]
    in_pool = np.isin(exact.catalog_index(want[:, 0]), pooled.pool)
    assert 0.5 < in_pool.mean() < 1.0  # both kinds of sessions are tested
    assert np.array_equal(tracks[in_pool, 0], want[in_pool, 0])
    assert not (tracks[:, :, None] == played[:, None, :]).any()
    assert all(len(set(slate)) == 3 for slate in tracks)


def test_a_session_that_heard_the_whole_pool_is_decoded_exactly() -> None:
    vectors, rows = catalog(300, dim=8, seed=13)
    pooled = ActionDecoder(vectors, rows, "dot", POOLED)
    exact = ActionDecoder(vectors, rows, "dot", EXACT)
    assert len(pooled.pool) < 300
    protos = np.random.default_rng(14).uniform(-1, 1, (6, 2, 8)).astype(np.float32)
    played = np.full((6, len(pooled.pool)), -1)
    played[::2] = rows[pooled.pool]  # sessions 0, 2, 4 heard every pool track
    tracks = pooled.decode(protos, played)[0]
    assert np.array_equal(tracks, exact.decode(protos, played)[0])
    assert not np.isin(exact.catalog_index(tracks[::2]), pooled.pool).any()
    assert np.isin(exact.catalog_index(tracks[1::2]), pooled.pool).all()


def test_the_pool_is_deterministic_and_leaves_blas_threads_alone() -> None:
    from threadpoolctl import threadpool_info

    before = [lib["num_threads"] for lib in threadpool_info()]
    vectors = uneven(5000, seed=15)
    first = pool_module.candidate_pool(vectors)
    assert np.array_equal(first, pool_module.candidate_pool(vectors))
    assert not np.array_equal(first, pool_module.candidate_pool(vectors, seed=1))
    assert [lib["num_threads"] for lib in threadpool_info()] == before
    # more directions or more tracks per direction only add to the pool
    fewer = pool_module.candidate_pool(vectors, directions=600, top=2)
    assert np.isin(fewer, pool_module.candidate_pool(vectors, directions=600, top=8)).all()


def test_env_with_the_pool_never_repeats_a_track() -> None:
    env = gym.make("MusicRec-v0", world="truth", slate_size=3, index_threshold=0)
    decoder = env.unwrapped.bundle.decoder
    assert decoder.pool is not None and len(decoder.pool) < len(decoder)
    env.action_space.seed(16)
    _, info = env.reset(seed=16)
    heard, done = list(info["history_tracks"]), False
    while not done:
        _, _, terminated, truncated, info = env.step(env.action_space.sample())
        assert not set(info["tracks"]) & set(heard) and len(set(info["tracks"])) == 3
        heard += [t for t, p in zip(info["tracks"], info["played"], strict=True) if p]
        done = terminated or truncated


def test_the_pool_is_cached_by_catalog_checksum_and_rebuilt_when_damaged(
        monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.setenv("MUSICGYM_CACHE", str(tmp_path))
    vectors = uneven(4000, seed=17)
    first = ActionDecoder(vectors, np.arange(4000), "dot", POOLED, cache_key="catalog-1").pool
    [entry] = (tmp_path / "decoder_pools").glob("[0-9a-f]*")  # beside its lock file
    assert np.array_equal(np.load(entry / "pool.npy"), first)
    built = pool_module.candidate_pool

    def never(*args, **kwargs):
        raise AssertionError("the pool was built again instead of loaded")

    monkeypatch.setattr(pool_module, "candidate_pool", never)
    again = ActionDecoder(vectors, np.arange(4000), "dot", POOLED, cache_key="catalog-1").pool
    assert np.array_equal(again, first)
    # a damaged entry is rebuilt, with a warning that names it
    np.save(entry / "pool.npy", np.arange(3, dtype=np.int64))
    monkeypatch.setattr(pool_module, "candidate_pool", built)
    with pytest.warns(RuntimeWarning, match="decoder_pools.*corrupt"):
        rebuilt = ActionDecoder(vectors, np.arange(4000), "dot", POOLED,
                                cache_key="catalog-1").pool
    assert np.array_equal(rebuilt, first)
    # another catalog has its own entry
    ActionDecoder(vectors[:3000], np.arange(3000), "dot", POOLED, cache_key="catalog-2")
    assert len(list((tmp_path / "decoder_pools").glob("[0-9a-f]*"))) == 2
