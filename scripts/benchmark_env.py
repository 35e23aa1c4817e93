"""Benchmark MusicRec-v0: steps per second, decode recall and cost, on any data.

Measures, on the default synthetic data or on `--tracks-data DIR` (a generated set, a prepared
folder or an MSSD log), with Gymnasium's Pendulum-v1 in the same run as the reference (the
machine may be shared: read the ratios):
- `recommendable_tracks` of the env's catalog;
- `single_steps_per_s`: one env with random actions;
- `vector256_env_steps_per_s`: the native vector env with `--batch` (256) sessions, and the
  time of one vector step split into decode / simulate / observe;
- `decode_recall_at_1`: the env's decoder against exact decoding on `--recall-protos` (10,000)
  random proto-vectors, none of them banned;
- `pendulum_steps_per_s`.
They are printed and, with `--json FILE`, written. On a generated set the env is judged by the
generator's own users (`--world truth`, nothing to fit). `--catalog-sizes` adds the decode time
of 256 protos against synthetic catalogs: exact, the "dot" candidate pool and faiss HNSW.

    python scripts/benchmark_env.py [--tracks-data DIR] [--min-plays N] [--json FILE]
        [--seconds 3] [--catalog-sizes 10000 100000 1000000]

A 1M-track catalog (about 575,000 recommendable tracks; NOTES.md "Scale"):

    musicgym generate --tracks 1000000 --sessions 200000 --out big/
    python scripts/benchmark_env.py --tracks-data big/ --min-plays 1 --json scale.json
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from threadpoolctl import threadpool_limits

import musicgym  # noqa: F401  (registers MusicRec-v0)
from musicgym.artifacts import write_json
from musicgym.envs.bundle import load_bundle
from musicgym.envs.config import EnvConfig
from musicgym.envs.decoder import ActionDecoder, IndexSpec
from musicgym.synthetic.dataset import is_generated

RECALL_CHUNK = 100
"""Protos decoded exactly at once in the recall check (scores: 100 x tracks floats)."""


def rate(step: Callable[[], object], seconds: float) -> float:
    """Calls per second of `step` over about `seconds` (after a short warm-up)."""
    for _ in range(20):
        step()
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for _ in range(50):
            step()
        n += 50
    return n / (time.perf_counter() - start)


def single_env_stepper(env_id: str, seed: int, **kwargs: Any) -> Callable[[], object]:
    """A function that steps one env with random actions, resetting when it ends."""
    env = gym.make(env_id, **kwargs)
    env.reset(seed=seed)
    env.action_space.seed(seed)
    actions = [env.action_space.sample() for _ in range(1000)]
    counter = iter(range(10**12))

    def step() -> None:
        _, _, terminated, truncated, _ = env.step(actions[next(counter) % 1000])
        if terminated or truncated:
            env.reset()

    return step


def split_vector_step(batch: int, seed: int, seconds: float,
                      kwargs: dict[str, Any]) -> tuple[float, dict[str, float]]:
    """Env-steps/s of the vector env, and the microseconds per step in each part."""
    vec = gym.make_vec("MusicRec-v0", num_envs=batch, vectorization_mode="vector_entry_point",
                       **kwargs)
    vec.reset(seed=seed)
    vec.action_space.seed(seed)
    action = vec.action_space.sample()
    steps_per_s = rate(lambda: vec.step(action), seconds) * batch
    sessions, decoder = vec.sessions, vec.bundle.decoder
    protos = action.reshape(batch, -1, vec.dim)
    with threadpool_limits(1, "blas"):
        decode = 1e6 / rate(lambda: decoder.decode(protos, sessions.played), seconds / 3)
        observe = 1e6 / rate(sessions.observation, seconds / 3)
    total = 1e6 * batch / steps_per_s
    return steps_per_s, {"decode": decode, "simulate": total - decode - observe,
                         "observe": observe, "total": total}


def decode_recall(decoder: ActionDecoder, n: int, seed: int) -> float:
    """Share of `n` random proto-vectors (uniform in the action box) that `decoder` decodes to
    the track exact decoding picks, with nothing banned."""
    protos = np.random.default_rng(seed).uniform(-1, 1, (n, 1, decoder.vectors.shape[1]))
    protos = protos.astype(np.float32)
    exact = ActionDecoder(decoder.vectors, decoder.rows, decoder.decoding, IndexSpec("exact"))
    nothing = np.full((RECALL_CHUNK, 1), -1)
    hits = 0
    with threadpool_limits(1, "blas"):
        for start in range(0, n, RECALL_CHUNK):
            chunk = protos[start:start + RECALL_CHUNK]
            found = decoder.decode(chunk, nothing[: len(chunk)])[0]
            hits += int((found == exact.decode(chunk, nothing[: len(chunk)])[0]).sum())
    return hits / n


def env_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """The MusicRec-v0 arguments of the run."""
    kwargs: dict[str, Any] = {}
    if args.tracks_data is not None:
        kwargs["data"] = str(args.tracks_data)
        world = args.world or ("truth" if is_generated(args.tracks_data) else "all")
        kwargs["world"] = world
    elif args.world:
        kwargs["world"] = args.world
    for name in ("min_plays", "index_threshold"):
        if getattr(args, name) is not None:
            kwargs[name] = getattr(args, name)
    return kwargs


def measure(args: argparse.Namespace) -> dict[str, Any]:
    """Every figure of the run, by key."""
    kwargs = env_kwargs(args)
    start = time.perf_counter()
    music = single_env_stepper("MusicRec-v0", args.seed, **kwargs)
    build_s = time.perf_counter() - start  # the first make: data, catalog, world, decoder
    decoder = load_bundle(EnvConfig.from_kwargs(**kwargs)).decoder  # the env's own, cached
    figures: dict[str, Any] = {
        "data": kwargs.get("data"), "env_kwargs": kwargs, "env_build_s": round(build_s, 1),
        "recommendable_tracks": len(decoder),
        "decoder_search": ("pool" if decoder.pool is not None else
                           "faiss_hnsw" if decoder.index is not None else "exact"),
        "decoder_pool_tracks": None if decoder.pool is None else len(decoder.pool)}
    figures["single_steps_per_s"] = rate(music, args.seconds)
    figures["pendulum_steps_per_s"] = rate(single_env_stepper("Pendulum-v1", args.seed),
                                           args.seconds)
    steps, parts = split_vector_step(args.batch, args.seed, args.seconds, kwargs)
    figures[f"vector{args.batch}_env_steps_per_s"] = steps
    figures["vector_step_us"] = {k: round(v, 1) for k, v in parts.items()}
    figures["decode_recall_at_1"] = decode_recall(decoder, args.recall_protos, args.seed)
    figures["recall_protos"] = args.recall_protos
    pendulum = figures["pendulum_steps_per_s"]
    figures["single_over_pendulum"] = figures["single_steps_per_s"] / pendulum
    figures["vector_over_pendulum"] = steps / pendulum
    return figures


def report(figures: dict[str, Any], batch: int) -> None:
    """Print the figures, with their targets."""
    print(f"data: {figures['data'] or 'default synthetic set'} ({figures['env_kwargs']}); "
          f"env built in {figures['env_build_s']} s")
    print(f"recommendable_tracks: {figures['recommendable_tracks']:,} (decoder: "
          f"{figures['decoder_search']}, pool {figures['decoder_pool_tracks']})")
    print(f"single_steps_per_s: {figures['single_steps_per_s']:,.0f} (target >= 2,000; "
          f"{figures['single_over_pendulum']:.2f}x Pendulum-v1)")
    print(f"vector{batch}_env_steps_per_s: {figures[f'vector{batch}_env_steps_per_s']:,.0f} "
          f"(target >= 50,000; {figures['vector_over_pendulum']:.1f}x Pendulum-v1)")
    print("one vector step, microseconds: " + ", ".join(
        f"{k} {v:,.0f}" for k, v in figures["vector_step_us"].items()))
    print(f"decode_recall_at_1: {figures['decode_recall_at_1']:.4f} (target >= 0.95; "
          f"{figures['recall_protos']:,} random protos against exact decoding)")
    print(f"pendulum_steps_per_s: {figures['pendulum_steps_per_s']:,.0f}")


def decode_scaling(sizes: list[int], batch: int, dim: int, seed: int) -> None:
    """Print the decode time of `batch` protos against synthetic catalogs of `sizes` tracks:
    exact, the "dot" candidate pool and faiss HNSW, with their recall@1 against exact."""
    rng = np.random.default_rng(seed)
    print(f"decode of {batch} proto-vectors (dim {dim}), uniform random catalogs:")
    print("| catalog | exact BLAS ms | pool ms | pool recall@1 | faiss HNSW ms | faiss recall@1 |")
    print("|---:|---:|---:|---:|---:|---:|")
    for size in sizes:
        vectors = rng.uniform(-1, 1, (size, dim)).astype(np.float32)
        protos = rng.uniform(-1, 1, (batch, 1, dim)).astype(np.float32)
        played = np.full((batch, 20), -1)
        row = [f"{size:,}"]
        exact = None
        for kind in ("exact", "auto", "faiss"):  # "auto" at threshold 0: the pool
            try:
                decoder = ActionDecoder(vectors, np.arange(size), "dot",
                                        index=IndexSpec(kind=kind, threshold=0))
            except ValueError:  # faiss not installed: the error names the extra
                row += ['n/a (pip install -e ".[faiss]")', "n/a"]
                break
            with threadpool_limits(1, "blas"):
                ms = 1e3 / rate(lambda d=decoder, p=protos, b=played: d.decode(p, b), 1.0)
            row.append(f"{ms:.2f}")
            found = decoder.decode(protos, played)[0]
            exact = found if exact is None else exact
            if kind != "exact":
                row.append(f"{(found[:, 0] == exact[:, 0]).mean():.3f}")
        print("| " + " | ".join(row) + " |")


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line, checked before any work."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tracks-data", type=Path, default=None,
                        help="data to measure on (default: the synthetic default set)")
    parser.add_argument("--min-plays", type=int, default=None,
                        help="env min_plays (default: the env's, 5)")
    parser.add_argument("--index-threshold", type=int, default=None,
                        help="env index_threshold (default: the env's, 100,000)")
    parser.add_argument("--world", default=None,
                        help="env world (default: 'truth' on a generated set, else 'all')")
    parser.add_argument("--json", type=Path, default=None, help="write the figures here")
    parser.add_argument("--seconds", type=float, default=3.0,
                        help="time budget of each steps/s measurement")
    parser.add_argument("--batch", type=int, default=256, help="sessions in the vector env")
    parser.add_argument("--recall-protos", type=int, default=10_000,
                        help="random proto-vectors of the recall check")
    parser.add_argument("--catalog-sizes", type=int, nargs="*", default=[],
                        help="also time decoding against synthetic catalogs of these sizes")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    for name in ("batch", "recall_protos", "min_plays"):
        value = getattr(args, name)
        if value is not None and value < 1:
            parser.error(f"--{name.replace('_', '-')} ({value}) must be at least 1")
    if args.seconds <= 0:
        parser.error(f"--seconds ({args.seconds}) must be positive")
    if any(size < 1 for size in args.catalog_sizes):
        parser.error("--catalog-sizes must be positive")
    if args.tracks_data is not None and not args.tracks_data.exists():
        parser.error(f"--tracks-data {args.tracks_data}: no such file or folder")
    if args.json is not None and not args.json.parent.is_dir():
        parser.error(f"--json {args.json}: folder {args.json.parent} does not exist")
    return args


def main(argv: list[str] | None = None) -> None:
    """Measure, print, and write the JSON."""
    args = parse(argv)
    figures = measure(args)
    report(figures, args.batch)
    if args.json is not None:
        write_json(args.json, json.loads(json.dumps(figures, default=str)))
        print(f"wrote {args.json}")
    if args.catalog_sizes:
        decode_scaling(args.catalog_sizes, args.batch, 16, args.seed)


if __name__ == "__main__":
    main()
