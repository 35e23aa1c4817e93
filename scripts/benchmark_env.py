"""Benchmark MusicRec-v0: steps per second, where a step's time goes, decode cost at scale.

Prints, on the default synthetic data:
- single-env steps/s with random actions (target >= 5,000) and, measured in the same run,
  Gymnasium's Pendulum-v1 with random actions, and the ratio;
- native vector env with 256 sessions, env-steps/s (target >= 100,000);
- the time of one vector step split into decode / simulate / observe;
- exact (BLAS) decode time per batch of 256 proto-vectors against catalogs of 10k, 100k and 1M
  synthetic tracks, and faiss HNSW with its recall@1 (the optional extra: in the repository,
  `pip install -e ".[faiss]"`).

    python scripts/benchmark_env.py [--seconds 3] [--catalog-sizes 10000 100000 1000000]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import gymnasium as gym
import numpy as np
from threadpoolctl import threadpool_limits

import musicgym  # noqa: F401  (registers MusicRec-v0)
from musicgym.envs.decoder import ActionDecoder, IndexSpec


@dataclass
class Args:
    seconds: float = 3.0
    """time budget of each steps/s measurement"""
    batch: int = 256
    """sessions in the vector env and proto-vectors per decode batch"""
    catalog_sizes: list[int] = field(default_factory=lambda: [10_000, 100_000, 1_000_000])
    """synthetic catalog sizes for the decode benchmark"""
    dim: int = 16
    """embedding dimension of the synthetic catalogs"""
    seed: int = 0


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


def single_env_stepper(env_id: str, seed: int) -> Callable[[], object]:
    """A function that steps one env with random actions, resetting when it ends."""
    env = gym.make(env_id)
    env.reset(seed=seed)
    env.action_space.seed(seed)
    actions = [env.action_space.sample() for _ in range(1000)]
    counter = iter(range(10**12))

    def step() -> None:
        _, _, terminated, truncated, _ = env.step(actions[next(counter) % 1000])
        if terminated or truncated:
            env.reset()

    return step


def split_vector_step(batch: int, seed: int, seconds: float) -> tuple[float, dict[str, float]]:
    """Env-steps/s of the vector env, and the microseconds per step in each part."""
    vec = gym.make_vec("MusicRec-v0", num_envs=batch, vectorization_mode="vector_entry_point")
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


def decode_scaling(args: Args) -> list[tuple[int, float, float | None, float | None]]:
    """(catalog size, exact ms, faiss ms, faiss recall@1) per size, for a batch of protos."""
    rng = np.random.default_rng(args.seed)
    out = []
    for size in args.catalog_sizes:
        vectors = rng.uniform(-1, 1, (size, args.dim)).astype(np.float32)
        protos = rng.uniform(-1, 1, (args.batch, 1, args.dim)).astype(np.float32)
        decoder = ActionDecoder(vectors, np.arange(size), "dot", index=IndexSpec(kind="exact"))
        played = np.full((args.batch, 20), -1)
        with threadpool_limits(1, "blas"):
            exact_ms = 1e3 / rate(lambda d=decoder, p=protos, b=played: d.decode(p, b), 1.0)
        exact, _ = decoder.decode(protos, played)
        out.append((size, exact_ms, *faiss_decode(vectors, protos, played, exact)))
    return out


def faiss_decode(vectors: np.ndarray, protos: np.ndarray, played: np.ndarray,
                 exact: np.ndarray) -> tuple[float | None, float | None]:
    """The env decoder's faiss HNSW search (its default index settings): ms per batch and
    recall@1 against exact decoding; None without faiss."""
    try:
        import faiss  # noqa: F401
    except ImportError:
        return None, None
    decoder = ActionDecoder(vectors, np.arange(len(vectors)), "dot",
                            index=IndexSpec(kind="faiss", threshold=0))
    with threadpool_limits(1, "blas"):
        ms = 1e3 / rate(lambda: decoder.decode(protos, played), 1.0)
    found, _ = decoder.decode(protos, played)
    return ms, float((found[:, 0] == exact[:, 0]).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=Args.seconds)
    parser.add_argument("--batch", type=int, default=Args.batch)
    parser.add_argument("--catalog-sizes", type=int, nargs="+",
                        default=Args().catalog_sizes)
    parser.add_argument("--seed", type=int, default=Args.seed)
    args = Args(**{k: v for k, v in vars(parser.parse_args()).items()})

    music = rate(single_env_stepper("MusicRec-v0", args.seed), args.seconds)
    pendulum = rate(single_env_stepper("Pendulum-v1", args.seed), args.seconds)
    print(f"single env, random actions: MusicRec-v0 {music:,.0f} steps/s; Pendulum-v1 "
          f"{pendulum:,.0f} steps/s; ratio {music / pendulum:.2f} (target >= 5,000 steps/s)")
    steps, parts = split_vector_step(args.batch, args.seed, args.seconds)
    print(f"vector env, {args.batch} sessions: {steps:,.0f} env-steps/s "
          f"({steps / pendulum:.1f}x single Pendulum-v1; target >= 100,000)")
    print("one vector step, microseconds: " + ", ".join(f"{k} {v:,.0f}" for k, v in
                                                         parts.items()))
    print(f"decode of {args.batch} proto-vectors (dim {args.dim}):")
    print("| catalog | exact BLAS ms | faiss HNSW ms | faiss recall@1 |")
    print("|---:|---:|---:|---:|")
    for size, exact_ms, faiss_ms, recall in decode_scaling(args):
        f_ms = 'n/a (pip install -e ".[faiss]")' if faiss_ms is None else f"{faiss_ms:.2f}"
        f_rec = "n/a" if recall is None else f"{recall:.3f}"
        print(f"| {size:,} | {exact_ms:.2f} | {f_ms} | {f_rec} |")


if __name__ == "__main__":
    main()
