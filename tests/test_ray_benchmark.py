"""`musicgym benchmark --ray` gives the serial benchmark's results, on a local Ray cluster.

Also: temporaries in a cache that several machines share are removed only when stale.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest
import threadpoolctl
import torch

from agents.distributed import run_on_ray
from agents.evaluation import METRICS
from agents.training import TrainConfig
from musicgym import artifacts
from musicgym.cli import main
from musicgym.commands import train as train_command
from musicgym.data.cache import cache_dir
from musicgym.envs.config import EnvConfig

# enough steps for SB3 to make gradient steps (learning starts at 100), no evaluation callback
TINY = ["--seeds", "2", "--timesteps", "240", "--num-envs", "8", "--eval-freq", "100000",
        "--ensemble", "1", "--rounds", "1", "--no-progress"]


@pytest.fixture(scope="module")
def tiny(tiny_generated: Path) -> Path:
    """The shared small generated set (so there is a truth world too)."""
    return tiny_generated


def _status(argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as done:
        return int(done.code)


# The Ray half runs in a child process: a Ray node that dies (a raylet killed by the machine,
# say) makes Ray end its driver process at once, which must fail this test with Ray's own logs,
# not end the whole test run.
_RAY_CHILD = """
import json, sys
import ray
from agents.distributed import run_on_ray
from agents.training import TrainConfig
from musicgym.cli import main
from musicgym.envs.config import EnvConfig

tiny, argv = sys.argv[1], sys.argv[2:]
# "local": a new cluster of our own, even if `ray start` runs one on this machine; a small
# object store (the jobs pass a few MB) fits machines with little shared memory
ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False,
         object_store_memory=128 * 2**20)
try:
    try:
        status = main(argv)
    except SystemExit as done:
        status = int(done.code)
    # a job's error reaches the caller as itself, one line, not as Ray's traceback
    jobs = [(TrainConfig(seed=0), EnvConfig(data=tiny, world="A", ensemble=1))]
    try:
        run_on_ray(jobs, 1, None, None, {"ddpg": int})  # int(train, env) raises
        error = None
    except Exception as err:
        error = [type(err).__name__, str(err)]
finally:
    ray.shutdown()
print(json.dumps({"status": status, "error": error}))
"""


def _ray_logs() -> str:
    """The ends of the newest Ray session's node logs (for a failure message)."""
    logs = Path("/tmp/ray/session_latest/logs")
    tails = [f"--- {log.name}\n" + "\n".join(log.read_text(errors="replace").splitlines()[-15:])
             for name in ("raylet.out", "raylet.err", "gcs_server.out", "gcs_server.err")
             if (log := logs / name).is_file()]
    return "\n".join(tails) or f"(no Ray logs in {logs})"


def test_ray_results_are_the_serial_results(tiny: Path, tmp_path: Path) -> None:
    pytest.importorskip("ray")  # the guard for an install without the `ray` extra only
    serial = tmp_path / "serial"
    assert _status(["benchmark", "--data", str(tiny), *TINY, "--out", str(serial)]) == 0
    for attempt in (1, 2):
        # the Ray jobs must replay the baselines too, not read the serial run's cached scores
        shutil.rmtree(cache_dir() / "baselines", ignore_errors=True)
        on_ray = tmp_path / f"ray-{attempt}"
        argv = ["benchmark", "--data", str(tiny), *TINY, "--ray", "--out", str(on_ray)]
        child = subprocess.run([sys.executable, "-c", _RAY_CHILD, str(tiny), *argv],
                               capture_output=True, text=True, timeout=1200)
        lines = child.stdout.strip().splitlines()
        if child.returncode == 0 and lines:
            break
        crashed = (f"the Ray run ended with exit code {child.returncode}\n--- its stderr\n"
                   f"{child.stderr[-4000:]}\n{_ray_logs()}")
        # a node that died under the machine (not a wrong result) gets one more try
        assert attempt == 1, crashed
        warnings.warn(f"retrying once: {crashed}", stacklevel=1)
    report = json.loads(lines[-1])
    assert report["status"] == 0, child.stderr[-4000:]
    assert report["error"] == ["TypeError", "'EnvConfig' object cannot be interpreted as an "
                                            "integer"]
    assert (cache_dir() / "baselines").is_dir()  # written again, by the Ray jobs
    expected = json.loads((serial / "results.json").read_text())
    got = json.loads((on_ray / "results.json").read_text())
    assert got["meta"].pop("ray") == "local"  # the one documented difference
    assert got == expected
    held_out = got["held_out_world"]["ddpg"]["listened"]
    assert set(got) == {"train_world", "held_out_world", "truth_world", "meta"}
    assert 0.0 < held_out["mean"] < 1.0 and held_out["ci_low"] < held_out["ci_high"]
    # each seed trained once on each path, into its own run folder
    assert len(list((serial / "runs").iterdir())) == len(list((on_ray / "runs").iterdir())) == 2


def _threads() -> tuple[int, list[int]]:
    """This process's torch threads and the thread count of each BLAS library."""
    blas = [pool["num_threads"] for pool in threadpoolctl.threadpool_info()
            if pool["user_api"] == "blas"]
    return torch.get_num_threads(), blas


def test_serial_seeds_run_on_the_threads_of_a_ray_job(tiny: Path, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """A trained DDPG depends on the BLAS thread count: both paths use one thread."""
    seen = []

    def recorded(args: object, seed: int) -> dict:
        seen.append(_threads())
        return {"train_world": {"ddpg": dict.fromkeys(METRICS, 0.5)}}

    monkeypatch.setattr(train_command, "benchmark_seed", recorded)
    callers = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        with threadpoolctl.threadpool_limits(2, user_api="blas"):
            before = _threads()
            assert _status(["benchmark", "--data", str(tiny), *TINY, "--out", str(tmp_path)]) == 0
            assert _threads() == before  # the caller's counts again
    finally:
        torch.set_num_threads(callers)
    assert seen == [(1, [1] * len(before[1]))] * 2 and before[0] == 2


@pytest.mark.parametrize("address", ["not an address", "host:port", "ray://:10001"])
def test_a_bad_address_fails_before_any_work(tmp_path: Path, address: str,
                                             capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "bench"
    assert _status(["benchmark", "--seeds", "1", "--ray", address, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"--ray {address!r} is not a Ray cluster address" in err and err.count("\n") == 1
    assert not out.exists()


def test_no_cluster_to_join_is_a_one_line_error(tiny: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    ray = pytest.importorskip("ray")

    def no_cluster(**kwargs: object) -> None:
        raise ConnectionError("Could not find any running Ray instance.\nPlease specify one.")

    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", no_cluster)
    jobs = [(TrainConfig(seed=0), EnvConfig(data=tiny, world="A", ensemble=1))]
    with pytest.raises(ValueError, match=r"^--ray auto: no Ray cluster to join \(Could not find "
                                         r"any running Ray instance.\); start one with `ray "
                                         r"start --head` or pass the address it printed$"):
        run_on_ray(jobs, 1, None, "auto", {"ddpg": int})


def test_without_ray_the_error_names_the_extra(tmp_path: Path, capsys: pytest.CaptureFixture,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    out = tmp_path / "bench"
    assert _status(["benchmark", "--seeds", "1", "--ray", "--out", str(out)]) == 2
    assert 'needs Ray, which is not installed: pip install -e ".[ray]"' in capsys.readouterr().err
    assert not out.exists()


# a cache that several machines share (NFS) ---------------------------------------------------

def _dead_pid() -> int:
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    return int(done.stdout)


def _temporary(parent: Path, host: str, pid: int, age_s: float = 0.0) -> Path:
    """A folder named as `atomic_dir`'s temporaries of `parent/out`, with one file, `age_s` old."""
    entry = parent / f".out.tmp-{host}-{pid}-0123abcd"
    (entry / "part").mkdir(parents=True)
    (entry / "part" / "rows.parquet").write_bytes(b"x" * 100)
    stamp = time.time() - age_s
    for path in (entry / "part" / "rows.parquet", entry / "part", entry):
        os.utime(path, (stamp, stamp))
    return entry


def test_temporaries_carry_this_machines_name(tmp_path: Path) -> None:
    with artifacts.atomic_path(tmp_path / "out") as tmp:
        assert tmp.name.startswith(f".out.tmp-{artifacts.HOST}-{os.getpid()}-")
        assert "-" not in artifacts.HOST
        tmp.write_text("done")
    assert (tmp_path / "out").read_text() == "done"


def test_another_machines_temporary_is_kept_until_it_is_stale(tmp_path: Path) -> None:
    dead, old = _dead_pid(), artifacts.STALE_AGE_S + 3600
    here = _temporary(tmp_path / "here", artifacts.HOST, dead)
    fresh = _temporary(tmp_path / "fresh", "node7.cluster", dead)  # PID means nothing here
    stale = _temporary(tmp_path / "stale", "node7.cluster", dead, age_s=old)
    writing = _temporary(tmp_path / "writing", "node7.cluster", dead, age_s=old)
    (writing / "part" / "rows.parquet").write_bytes(b"y" * 200)  # still being written
    assert artifacts.remove_stale_temporaries(tmp_path / "here" / "out") == [here]
    assert artifacts.remove_stale_temporaries(tmp_path / "fresh" / "out") == []
    assert artifacts.remove_stale_temporaries(tmp_path / "stale" / "out") == [stale]
    assert artifacts.remove_stale_temporaries(tmp_path / "writing" / "out") == []
    assert fresh.is_dir() and writing.is_dir() and not stale.exists() and not here.exists()
