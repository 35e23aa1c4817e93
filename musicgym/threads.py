"""Thread counts that library code sets for itself, whoever calls it, and what a build prints.

musicgym's networks and matrices are small: on a busy 2-core machine the libraries' default
thread pools made the simulator fit and the env steps up to 50x slower (a first `gym.make` took
137 s instead of 8 s). Fits run torch and BLAS on one thread and env steps run BLAS on one
thread, and each restores the caller's settings after.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
from threadpoolctl import threadpool_limits


@contextmanager
def one_torch_thread() -> Iterator[None]:
    """Run torch on one intra-op thread inside the block, then restore the caller's count."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@contextmanager
def fit_threads() -> Iterator[None]:
    """Fit on one torch thread and one BLAS thread inside the block, then restore both.

    Wraps every fit (simulator, response model, catalog, track embeddings), so that a user's
    script, the env and the CLI all fit at the same speed; usable as a decorator too.
    """
    with one_torch_thread(), threadpool_limits(1, user_api="blas"):
        yield


@contextmanager
def training_numerics(threads: int = 1) -> Iterator[None]:
    """Train with `threads` torch threads, one BLAS thread and denormals flushed, then restore.

    Tiny gradients turned denormal and made training 4x slower in some simulators. Flushing is
    process-wide CPU state (it also broke hypothesis's float strategies after a training run),
    so it is switched off again when the block ends.
    """
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    torch.set_flush_denormal(True)
    try:  # one BLAS thread: numpy's sums in another order flip near-tied decodings
        with threadpool_limits(1, user_api="blas"):
            yield
    finally:
        torch.set_flush_denormal(False)
        torch.set_num_threads(before)


@contextmanager
def one_faiss_thread(faiss: Any) -> Iterator[None]:
    """Run faiss on one OpenMP thread (a deterministic HNSW build), then restore the count."""
    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(before)
