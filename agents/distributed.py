"""`musicgym benchmark --ray`: the benchmark's jobs on a Ray cluster, with the serial results.

The serial benchmark (`musicgym.commands.train.benchmark_seed`) trains the agents of each seed
(`agents.trainers.seed_trainers`: the online agent and, with one track per slate, the offline
ones) and judges them and the baselines in every judging world. Here the same work is split
into jobs that Ray places on any node with a free CPU:

| job | one per | returns |
|---|---|---|
| `train_job` | (agent, seed) | the trained policy: its JSON description and weights |
| `judge_job` | (agent, seed, world) | the agent's metrics in that world |
| `baselines_job` | seed | every baseline's metrics in every world (`benchmark_run` with no agent) |

A judge job starts as soon as its train job has finished; the baselines do not wait for any
training. The trained policy travels as a state dict of arrays, never as a pickled SB3 model,
and each judge rebuilds it as `agents.training.load_policy` does. The per-seed results are
assembled in `benchmark_run`'s order, so `agents.benchmark.collect` takes them as it takes the
serial ones, and the numbers are the same: every job seeds its own draws, and every job, like
the serial benchmark, runs on one torch and one BLAS thread (`job_threads`) wherever it runs.

Every job reads the prepared data and the fitted simulators from the cache folder, whose path
reaches the workers as `MUSICGYM_CACHE` (Ray's `runtime_env`); a job that finds an entry cold
fits it under the entry's file lock (`musicgym.artifacts.load_or_build`), so one job fits it
and the others wait and load it. On a cluster of several machines, the cache folder, `--data`,
`--test` and `--out` must be paths every node sees (a shared file system), and every node needs
this package installed in the same Python environment.
"""

from __future__ import annotations

import re
from contextlib import AbstractContextManager
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from agents.trainers import Trainer
from agents.training import TrainConfig
from musicgym.envs.config import EnvConfig
from musicgym.rllib import runtime_env
from musicgym.threads import fit_threads

RAY_EXTRA = 'pip install -e ".[ray]"'
JUDGE_ENVS = 64
"""Sessions replayed together when judging: `benchmark_run`'s default, which the serial
benchmark uses (it is part of the draw order, so it must match)."""
_ADDRESS = re.compile(r"^(auto|local|(ray://)?[A-Za-z0-9_.\-]+:\d{1,5})$")


def check_address(address: str | None) -> None:
    """Raise a `ValueError` naming `--ray` unless `address` is None or a Ray cluster address."""
    if address is not None and not _ADDRESS.match(address):
        raise ValueError(f"--ray {address!r} is not a Ray cluster address: pass HOST:PORT (what "
                         "`ray start --head` prints), ray://HOST:PORT, auto or local, or no "
                         "address for a local cluster")


def import_ray() -> Any:
    """The `ray` module, or a `ValueError` naming the extra that installs it."""
    try:
        import ray
    except ImportError:
        raise ValueError(f"--ray needs Ray, which is not installed: {RAY_EXTRA}") from None
    return ray


def job_threads() -> AbstractContextManager[None]:
    """One torch and one BLAS thread inside the block (`fit_threads`), then the caller's counts.

    Every job runs in it (one job per CPU Ray gives it), and so does the serial benchmark:
    DDPG's trained policy depends on the BLAS thread count (sums taken in another order flip
    near-tied decodings), so both paths must use the same count on every machine.
    """
    return fit_threads()


def train_job(trainer: Trainer, train: TrainConfig, env: EnvConfig) -> dict[str, Any]:
    """Train one (agent, seed); return its policy's JSON description and weights.

    :return: {"policy": `policy_description`, "weights": name -> array}
    """
    from agents.policy import policy_description

    with job_threads():
        trained = trainer(train, env)
    policy = getattr(trained, "policy", trained)
    return {"policy": policy_description(policy),
            "weights": {k: v.detach().cpu().numpy() for k, v in policy.state_dict().items()}}


def rebuilt_policy(trained: dict[str, Any]) -> Any:
    """The policy `train_job` returned, rebuilt on the CPU from its description and weights."""
    import torch

    from agents.policy import rebuild_policy

    policy = rebuild_policy(trained["policy"])
    policy.load_state_dict({k: torch.from_numpy(v) for k, v in trained["weights"].items()})
    policy.set_training_mode(False)
    return policy


def judge_job(trained: dict[str, Any], env: EnvConfig, world: str, rounds: int, seed: int,
              test_data: str | Path | None, held_out: str = "one_fit") -> dict[str, float]:
    """The metrics of one trained (agent, seed) in one judging world, as `benchmark_run`'s."""
    from agents.benchmark import evaluation_configs
    from agents.evaluation import evaluate
    from agents.track_agent import PolicyAgent
    from musicgym.envs.vector import MusicRecVectorEnv

    with job_threads():
        config = evaluation_configs(env, test_data, held_out)[world]
        vec = MusicRecVectorEnv(JUDGE_ENVS, **asdict(config))
        return evaluate(PolicyAgent(rebuilt_policy(trained)), vec, rounds, seed)


def baselines_job(env: EnvConfig, rounds: int, seed: int, test_data: str | Path | None,
                  held_out: str = "one_fit") -> dict[str, dict[str, dict[str, float]]]:
    """Every baseline's metrics in every judging world for one seed (cached as serially)."""
    from agents.benchmark import benchmark_run

    with job_threads():
        return benchmark_run({}, env, rounds, seed, num_envs=JUDGE_ENVS, test_data=test_data,
                             held_out=held_out)


def _absolute(train: TrainConfig, env: EnvConfig) -> tuple[TrainConfig, EnvConfig]:
    """The configs with absolute paths: a worker does not run in the driver's folder."""
    def resolved(path: Any) -> Any:
        return None if path is None else Path(path).expanduser().resolve()

    return (replace(train, runs_dir=resolved(train.runs_dir)),
            replace(env, data=resolved(env.data), test_data=resolved(env.test_data)))


def run_on_ray(jobs: list[tuple[TrainConfig, EnvConfig]], rounds: int,
               test_data: str | Path | None, address: str | None,
               trainers: dict[str, Trainer], held_out: str = "one_fit",
               ) -> list[dict[str, dict[str, dict[str, float]]]]:
    """Run the benchmark's jobs for every (train, env) config pair (one per seed) on Ray.

    Uses the cluster this process is connected to, if any; else joins the one at `address`
    (as `_connect` does) and disconnects after.

    :param jobs: one (TrainConfig, EnvConfig) pair per seed, as the serial benchmark builds them
    :param trainers: agent name -> its `Trainer`, in the order the serial benchmark hands the
        agents to `benchmark_run` (e.g. {"ddpg": train_online})
    :param held_out: how the held-out world is fitted, as `benchmark_run`'s
    :return: per seed, world -> agent -> metric, in `benchmark_run`'s order
    """
    from agents.benchmark import evaluation_configs

    check_address(address)
    ray = import_ray()
    jobs = [_absolute(train, env) for train, env in jobs]
    test = None if test_data is None else Path(test_data).expanduser().resolve()
    worlds = list(evaluation_configs(jobs[0][1], test, held_out))
    # the cache path (and a chosen device) reaches every worker, whichever node it runs on
    options = {"num_cpus": 1, "runtime_env": runtime_env()}
    connected = not ray.is_initialized()
    if connected:
        _connect(ray, address)
    try:
        return _dispatch(ray, options, jobs, worlds, rounds, test, trainers, held_out)
    finally:
        if connected:
            ray.shutdown()


def _connect(ray: Any, address: str | None) -> None:
    """Join the Ray cluster at `address`, with a one-line error when there is none.

    None lets `ray.init` choose: $RAY_ADDRESS, else the cluster `ray start` runs on this
    machine, else a new local one.
    """
    # a client (ray://) takes no dashboard setting; a new local cluster needs no dashboard
    options = {} if address and address.startswith("ray://") else {"include_dashboard": False}
    try:
        ray.init(address=address, **options)
    except ConnectionError as err:
        detail = (str(err).strip().splitlines() or [type(err).__name__])[0]
        flag = f"--ray {address}" if address else "--ray"
        raise ValueError(f"{flag}: no Ray cluster to join ({detail}); start one with `ray start "
                         "--head` or pass the address it printed") from None


def _dispatch(ray: Any, options: dict[str, Any], jobs: list[tuple[TrainConfig, EnvConfig]],
              worlds: list[str], rounds: int, test: Path | None,
              trainers: dict[str, Trainer], held_out: str,
              ) -> list[dict[str, dict[str, dict[str, float]]]]:
    """Submit every job, wait for all of them, and assemble the per-seed results."""
    train = ray.remote(train_job).options(**options)
    judge = ray.remote(judge_job).options(**options)
    baselines = ray.remote(baselines_job).options(**options)
    # training first, the longest path; the baselines fill the CPUs it leaves free
    trained = [{name: train.remote(trainer, t, e) for name, trainer in trainers.items()}
               for t, e in jobs]
    scored = [baselines.remote(e, rounds, t.seed, test, held_out) for t, e in jobs]
    judged = [{name: {w: judge.remote(ref, e, w, rounds, t.seed, test, held_out) for w in worlds}
               for name, ref in seed.items()} for seed, (t, e) in zip(trained, jobs, strict=True)]
    pending = [*scored, *(r for seed in trained for r in seed.values()),
               *(r for seed in judged for refs in seed.values() for r in refs.values())]
    try:
        waiting = list(pending)
        while waiting:  # the first failure stops the run at once, not after every other job
            done, waiting = ray.wait(waiting, num_returns=1)
            ray.get(done)
    except ray.exceptions.RayTaskError as err:
        for ref in pending:
            ray.cancel(ref)  # what has finished stays as it is
        cause: BaseException = err
        while isinstance(cause, ray.exceptions.RayTaskError):  # a judge's failed train job
            cause = cause.cause
        # the job's own error (one line, naming what to fix), not Ray's remote traceback
        raise cause from None
    base = ray.get(scored)
    agents = [{name: {w: ray.get(ref) for w, ref in refs.items()} for name, refs in seed.items()}
              for seed in judged]
    return [{w: {**{name: mine[name][w] for name in trainers}, **seed_base[w]} for w in worlds}
            for mine, seed_base in zip(agents, base, strict=True)]
