"""Loading a run folder cannot run code: hostile model.zip, policy.pt and run.json files."""

from __future__ import annotations

import base64
import json
import shutil
import zipfile
from dataclasses import replace
from pathlib import Path

import cloudpickle
import numpy as np
import pytest
import torch

from agents.algorithms import RecDDPG
from agents.policy import make_agent
from agents.recommender import Recommender
from agents.track_agent import PolicyAgent
from agents.training import POLICY_FILE, load_policy, save_model, write_run_files
from musicgym.artifacts import CorruptArtifactError, file_sha256
from musicgym.cli import main
from musicgym.envs.config import EnvConfig
from musicgym.envs.vector import MusicRecVectorEnv

torch.set_num_threads(1)
SMALL = {"device": "cpu", "policy_kwargs": {"net_arch": [32, 32]}}
ENV = EnvConfig(world="A", sessions="train")


class WritesMarker:
    """Unpickling this opens (creates) the marker file: proof that a load ran code."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


@pytest.fixture(scope="module")
def vec() -> MusicRecVectorEnv:
    return MusicRecVectorEnv(4, **vars(ENV))


@pytest.fixture(scope="module")
def saved(vec: MusicRecVectorEnv, tmp_path_factory: pytest.TempPathFactory):
    """A run folder as `train` writes it (untrained weights: loading is what is tested)."""
    model = make_agent("ddpg", vec, seed=3, **SMALL)
    run = tmp_path_factory.mktemp("run")
    save_model(model, run / "model.zip")
    write_run_files(run, model, ENV, {"algo": "ddpg"})
    return model, run


def copy_run(run: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(run, tmp_path / "run"))


def rewrite_record(run: Path, **changes) -> None:
    record = json.loads((run / "run.json").read_text())
    record.update(changes)
    (run / "run.json").write_text(json.dumps(record))


def history(rec: Recommender, n: int = 3) -> list[str]:
    return [str(t) for t in rec.bundle.catalog.track_ids[rec.bundle.decoder.rows[:n]]]


def test_loaded_policy_acts_exactly_as_the_saved_model(saved, vec: MusicRecVectorEnv) -> None:
    model, run = saved
    record, policy = load_policy(run)
    assert record["algo"] == "ddpg" and record["format_version"] == 2
    assert record["files"][POLICY_FILE] == file_sha256(run / POLICY_FILE)
    obs = vec.reset(seed=5)[0]
    np.testing.assert_array_equal(policy.predict(obs, deterministic=True)[0],
                                  model.predict(obs, deterministic=True)[0])
    assert policy.catalog_checksum == vec.bundle.catalog.checksum


def test_a_loaded_policy_plays_in_the_benchmark_as_its_model(saved, vec) -> None:
    model, run = saved
    _, policy = load_policy(run)
    for k in (0, 5):
        obs = vec.reset(seed=6)[0]
        rows = [PolicyAgent(m, wolpertinger_k=k).select(vec, obs, np.random.default_rng(0))
                for m in (model, policy)]
        np.testing.assert_array_equal(rows[0], rows[1])


@pytest.mark.parametrize("algo", ["td3", "sac"])
def test_td3_and_sac_round_trip_weights_only(algo: str, vec: MusicRecVectorEnv,
                                             tmp_path: Path) -> None:
    model = make_agent(algo, vec, seed=1, **SMALL)
    write_run_files(tmp_path, model, ENV, {"algo": algo})
    _, policy = load_policy(tmp_path)
    assert type(policy) is type(model.policy)
    obs = vec.reset(seed=2)[0]
    np.testing.assert_array_equal(policy.predict(obs, deterministic=True)[0],
                                  model.predict(obs, deterministic=True)[0])


def test_a_malicious_model_zip_is_never_unpickled(saved, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture) -> None:
    _, clean = saved
    run = copy_run(clean, tmp_path)
    marker = tmp_path / "pwned"
    with zipfile.ZipFile(clean / "model.zip") as src:
        entries = {name: src.read(name) for name in src.namelist()}
    data = json.loads(entries["data"])
    data["action_noise"] = {":type:": "<class 'NormalActionNoise'>", ":serialized:":
                            base64.b64encode(cloudpickle.dumps(WritesMarker(marker))).decode()}
    entries["data"] = json.dumps(data).encode()
    with zipfile.ZipFile(run / "model.zip", "w") as out:
        for name, payload in entries.items():
            out.writestr(name, payload)
    # the file is hostile: SB3's own load runs its code
    RecDDPG.load(run / "model.zip", device="cpu")
    assert marker.exists()
    marker.unlink()

    rec = Recommender.load(run)
    assert len(rec.recommend(history(rec), k=4)) == 4
    assert main(["recommend", "--model", str(run), "--history", *history(rec), "--k", "3"]) == 0
    assert len(capsys.readouterr().out.split()) == 3
    assert not marker.exists()
    (run / "model.zip").write_bytes(b"not even a zip")  # model.zip is not read at all
    assert len(Recommender.load(run).recommend(history(rec), k=2)) == 2


def test_pickled_code_in_policy_pt_is_refused_even_with_a_matching_checksum(
        saved, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    run = copy_run(saved[1], tmp_path)
    marker = tmp_path / "pwned"
    torch.save({"actor.mu.0.weight": WritesMarker(marker)}, run / POLICY_FILE)
    rewrite_record(run, files={POLICY_FILE: file_sha256(run / POLICY_FILE)})
    with pytest.raises(CorruptArtifactError, match=r"policy\.pt: not a readable weights file"):
        Recommender.load(run)
    assert main(["recommend", "--model", str(run), "--history", "t_x"]) == 2
    err = capsys.readouterr().err
    assert "policy.pt" in err and "weights_only=False" not in err
    assert not marker.exists()


@pytest.mark.parametrize("damage", ["flip", "truncate", "empty"])
def test_corrupt_weights_name_the_file(saved, tmp_path: Path, damage: str,
                                       capsys: pytest.CaptureFixture) -> None:
    run = copy_run(saved[1], tmp_path)
    path = run / POLICY_FILE
    raw = bytearray(path.read_bytes())
    if damage == "flip":
        raw[len(raw) // 2: len(raw) // 2 + 64] = bytes(b ^ 0xFF for b in
                                                       raw[len(raw) // 2: len(raw) // 2 + 64])
    path.write_bytes(bytes(raw[: len(raw) // 3] if damage == "truncate" else
                           b"" if damage == "empty" else raw))
    with pytest.raises(CorruptArtifactError, match=r"policy\.pt: contents do not match"):
        load_policy(run)
    assert main(["recommend", "--model", str(run), "--history", "t_x"]) == 2
    assert f"{path}: contents do not match" in capsys.readouterr().err
    if damage != "flip":
        # the attacker rewrote run.json's checksum too: still one located error
        rewrite_record(run, files={POLICY_FILE: file_sha256(path)})
        with pytest.raises(CorruptArtifactError, match=r"policy\.pt: not a readable"):
            load_policy(run)


def test_weights_that_do_not_fit_the_described_networks(saved, vec, tmp_path: Path) -> None:
    run = copy_run(saved[1], tmp_path)
    other = make_agent("ddpg", vec, seed=1, device="cpu",
                       policy_kwargs={"net_arch": [8]})
    torch.save(other.policy.state_dict(), run / POLICY_FILE)
    rewrite_record(run, files={POLICY_FILE: file_sha256(run / POLICY_FILE)})
    with pytest.raises(CorruptArtifactError, match="do not fit the networks"):
        load_policy(run)


@pytest.mark.parametrize(("change", "message"), [
    ({"class": "os.system"}, "does not rebuild a policy"),
    ({"activation_fn": "posix.system"}, "does not rebuild a policy"),
    ({"kwargs": {"net_arch": [32, 32], "evil": 1}}, "does not rebuild a policy"),
    ({"observation_space": {"shape": [3], "dtype": "object", "low": 0, "high": 1}},
     "not a float type"),
    ({"observation_space": {"shape": [10**12], "dtype": "float32", "low": 0, "high": 1}},
     "not a flat vector"),
    ({"kwargs": {"net_arch": "os.system"}}, "does not rebuild a policy"),
])
def test_hostile_policy_descriptions_are_refused(saved, tmp_path: Path, change: dict,
                                                 message: str) -> None:
    run = copy_run(saved[1], tmp_path)
    record = json.loads((run / "run.json").read_text())
    rewrite_record(run, policy={**record["policy"], **change})
    with pytest.raises(ValueError, match=message) as err:
        load_policy(run)
    assert "run.json" in str(err.value)


def test_old_or_foreign_run_folders(saved, tmp_path: Path) -> None:
    run = copy_run(saved[1], tmp_path)
    record = json.loads((run / "run.json").read_text())
    old = {k: record[k] for k in ("algo", "env", "train", "catalog_checksum")}
    (run / "run.json").write_text(json.dumps(old))  # format 1: model.zip only
    with pytest.raises(ValueError, match="run format 1.*train the agent again"):
        Recommender.load(run)
    (run / "run.json").write_text("{not json")
    with pytest.raises(ValueError, match=r"run\.json: not valid JSON"):
        Recommender.load(run)
    with pytest.raises(FileNotFoundError, match="no such run folder"):
        Recommender.load(tmp_path / "nowhere")
    (run / "run.json").unlink()
    with pytest.raises(FileNotFoundError, match="no run.json"):
        Recommender.load(run)


def test_an_env_config_the_run_cannot_have_is_refused(saved, tmp_path: Path) -> None:
    run = copy_run(saved[1], tmp_path)
    record = json.loads((run / "run.json").read_text())
    rewrite_record(run, env={**record["env"], "evil": "x"})
    with pytest.raises(ValueError, match=r"run\.json: its env config"):
        Recommender.load(run)
    rewrite_record(run, env=vars(replace(ENV, min_plays=6)))  # another catalog
    with pytest.raises(ValueError, match="catalog"):
        Recommender.load(run)
