"""Torch device selection for fits and training: names, $MUSICGYM_DEVICE, and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from musicgym.device import DEVICE_VARIABLE, DeviceError, resolve_device


@pytest.fixture(autouse=True)
def _no_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(DEVICE_VARIABLE, raising=False)


def test_auto_follows_torch(monkeypatch: pytest.MonkeyPatch) -> None:
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected
    assert resolve_device(None).type == expected  # nothing set: auto
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == torch.device("cpu")
    assert resolve_device(None) == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto") == torch.device("cuda")


def test_names_and_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    assert resolve_device(" CPU ") == torch.device("cpu")
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")
    monkeypatch.setenv(DEVICE_VARIABLE, "cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device(None) == torch.device("cpu")  # the variable beats auto
    monkeypatch.setenv(DEVICE_VARIABLE, "")
    assert resolve_device(None) == torch.device("cuda")  # empty: auto
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert resolve_device("cuda:1") == torch.device("cuda", 1)
    assert resolve_device("cuda:1").type == "cuda"  # what a fit's cache key records
    with pytest.raises(DeviceError, match=r"cuda:2.*2 GPU\(s\)"):
        resolve_device("cuda:2")


@pytest.mark.parametrize("name", ["gpu", "tpu", "cpu:0", "cuda:x", "cuda:", "", "mps"])
def test_unknown_names_are_refused(name: str) -> None:
    with pytest.raises(DeviceError, match=r"^device \(.*\) must be one of auto, cpu, cuda"):
        resolve_device(name)


def test_bad_variable_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(DEVICE_VARIABLE, "gpu0")
    with pytest.raises(DeviceError, match=r"^\$MUSICGYM_DEVICE \('gpu0'\) must be one of"):
        resolve_device(None)
    assert resolve_device("cpu") == torch.device("cpu")  # an argument wins over the variable


def test_cuda_without_a_gpu_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(DeviceError, match="torch sees none here; use 'cpu' or 'auto'"):
        resolve_device("cuda")
    assert issubclass(DeviceError, ValueError)  # the CLI prints it as one line


def test_training_config_checks_the_device() -> None:
    from agents.training import TrainConfig

    assert TrainConfig(device="cpu").device == "cpu"
    assert TrainConfig().device is None
    with pytest.raises(ValueError, match=r"device \('gpu'\)"):
        TrainConfig(device="gpu")


def test_ray_workers_get_the_cache_and_the_chosen_device(monkeypatch: pytest.MonkeyPatch,
                                                         tmp_path: Path) -> None:
    from musicgym.rllib import runtime_env

    monkeypatch.setenv("MUSICGYM_CACHE", str(tmp_path))
    monkeypatch.delenv(DEVICE_VARIABLE, raising=False)
    assert runtime_env() == {"env_vars": {"MUSICGYM_CACHE": str(tmp_path.resolve())}}
    monkeypatch.setenv(DEVICE_VARIABLE, "cpu")
    assert runtime_env()["env_vars"][DEVICE_VARIABLE] == "cpu"
