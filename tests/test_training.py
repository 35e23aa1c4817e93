"""Training runs, the benchmark harness, results files and the Recommender."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest
import torch

from agents.baselines import RandomAgent
from agents.benchmark import benchmark_run, collect, evaluation_configs, transfer_gap
from agents.evaluation import METRICS, confidence_interval, evaluate, summarize
from agents.recommender import ListeningContext, Recommender, UnknownTracksError
from agents.results import write_results
from agents.training import TrainConfig, resume, train
from musicgym.cli import main
from musicgym.envs.config import EnvConfig
from musicgym.envs.vector import MusicRecVectorEnv

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory):
    runs = tmp_path_factory.mktemp("runs")
    config = TrainConfig(timesteps=400, num_envs=4, eval_freq=200, eval_episodes=4,
                         checkpoint_freq=200, runs_dir=runs, progress=False)
    model, folder = train(config, EnvConfig(world="A"))
    return model, folder


def test_run_folder_holds_model_config_logs_and_checkpoints(run) -> None:
    _, folder = run
    assert folder.name.startswith("MusicRec-v0__ddpg__0__")
    assert (folder / "model.zip").is_file() and (folder / "policy.pt").is_file()
    record = json.loads((folder / "run.json").read_text())
    assert record["algo"] == "ddpg" and record["env"]["sessions"] == "train"
    assert record["env"]["world"] == "A" and len(record["catalog_checksum"]) == 64
    assert record["policy"]["class"] == "RecPolicy" and record["format_version"] == 2
    assert (folder / "eval" / "best_model.zip").is_file()
    assert any((folder / "tensorboard").rglob("events.out.tfevents*"))
    assert list((folder / "checkpoints").glob("*.zip"))
    assert (folder / "eval" / "evaluations.npz").is_file()


def test_evaluation_is_seeded_and_metrics_are_in_range() -> None:
    vec = MusicRecVectorEnv(16, **asdict(EnvConfig(sessions="test")))
    a = evaluate(RandomAgent(), vec, rounds=1, seed=3)
    b = evaluate(RandomAgent(), vec, rounds=1, seed=3)
    assert a == b and set(a) == set(METRICS)
    assert 0 < a["listened"] < 1 and 0 < a["coverage"] <= 1
    assert 0 <= a["diversity"] <= 2


def test_confidence_interval_by_hand() -> None:
    ci = confidence_interval([1.0, 2.0, 3.0])
    # t(0.975, 2) = 4.3027; sd = 1; half = 4.3027 / sqrt(3)
    assert ci["mean"] == 2.0
    assert ci["ci_high"] - 2.0 == pytest.approx(4.302653 / np.sqrt(3), rel=1e-5)


def test_results_files(tmp_path: Path) -> None:
    per_seed = {"train_world": {"a": [dict.fromkeys(METRICS, 0.5), dict.fromkeys(METRICS, 0.7)],
                                "b": [dict.fromkeys(METRICS, 0.4), dict.fromkeys(METRICS, 0.4)]},
                "held_out_world": {"a": [dict.fromkeys(METRICS, 0.3),
                                         dict.fromkeys(METRICS, 0.5)],
                                   "b": [dict.fromkeys(METRICS, 0.4),
                                         dict.fromkeys(METRICS, 0.4)]}}
    summary = {world: summarize(agents) for world, agents in per_seed.items()}
    text = write_results(tmp_path, summary, {"seeds": 2})
    data = json.loads((tmp_path / "results.json").read_text())
    assert set(data) == {"train_world", "held_out_world", "meta"}
    assert data["train_world"]["a"]["listened"]["mean"] == pytest.approx(0.6)
    assert data["held_out_world"]["a"]["listened"]["mean"] == pytest.approx(0.4)
    assert set(data["train_world"]["b"]["coverage"]) == {"mean", "ci_low", "ci_high"}
    assert (tmp_path / "results.png").stat().st_size > 1000
    assert (tmp_path / "results.csv").read_text().count("\n") == 1 + 2 * 2 * len(METRICS)
    # the side-by-side table: held-out world first; one seed's "intervals" print as the mean
    assert "| agent | held out world | train world |" in text
    assert "| b | 0.400 | 0.400 |" in text
    gap = transfer_gap(per_seed, "a")
    assert gap["mean"] == pytest.approx(0.2) and gap["ci_low"] == pytest.approx(0.2)


def test_benchmark_judges_in_the_train_held_out_and_truth_worlds(run) -> None:
    model, _ = run
    results = benchmark_run({"ddpg": model}, EnvConfig(world="A"), rounds=1, seed=0,
                            num_envs=16)
    assert set(results) == {"train_world", "held_out_world", "truth_world"}
    for world, agents in results.items():
        assert set(agents) == {"ddpg", "random", "most_popular", "logged", "item_knn",
                               "greedy_model", "greedy_lcb", "greedy_oracle"}, world
        assert agents["greedy_oracle"]["listened"] > agents["random"]["listened"] + 0.1
    # in the train world greedy_model reads the world that judges: it is the oracle there
    train = results["train_world"]
    assert train["greedy_model"] == train["greedy_oracle"]
    # the lower confidence bound gives up some of A's favourites for well-heard tracks
    assert train["greedy_lcb"]["listened"] < train["greedy_model"]["listened"]
    # another world judges: A's favourites are not B's
    held = results["held_out_world"]
    assert held["greedy_oracle"]["listened"] > held["greedy_model"]["listened"]
    per_seed: dict = {}
    collect(per_seed, results)
    assert per_seed["held_out_world"]["ddpg"] == [held["ddpg"]]


def test_test_sessions_can_come_from_another_log(tmp_path: Path) -> None:
    """`--test`: a separate log's sessions start the evaluation episodes, tracks mapped by id."""
    from musicgym.datasets import load_dataset

    dataset = load_dataset()
    log = dataset.log(split="test").query("session_idx < @dataset.manifest['sessions'] // 4")
    sessions = log["session_id"].nunique()
    path = tmp_path / "test_log.csv"
    log[list(dataset.to_mssd().columns)].to_csv(path, index=False)
    configs = evaluation_configs(EnvConfig(world="A"), test_data=path)
    vec = MusicRecVectorEnv(4, **asdict(configs["held_out_world"]))
    assert len(vec.bundle.sampler) == sessions
    assert configs["held_out_world"].world == "B" and vec.config.catalog == "A"
    vec.sessions.reset(np.arange(4), np.random.default_rng(0), logged=np.arange(4))
    first = log[log["session_id"] == log["session_id"].iloc[0]]
    heard = vec.bundle.catalog.track_ids[vec.sessions.logged[0, : len(first)]]
    np.testing.assert_array_equal(heard, first["track_id_clean"].to_numpy())


def test_recommender_recommends_unheard_known_tracks(run) -> None:
    _, folder = run
    rec = Recommender.load(folder)
    catalog = rec.bundle.catalog.track_ids[rec.bundle.decoder.rows]
    history = list(catalog[:5])
    out = rec.recommend(history, ["not_skipped", "skip_1", "not_skipped", "skip_3_only",
                                  "not_skipped"], k=10)
    assert len(out) == 10 and len(set(out)) == 10 and not set(out) & set(history)
    assert set(out) <= set(catalog)
    assert rec.recommend(history, k=10) == rec.recommend(history, k=10)


def test_recommender_unknown_tracks(run, capsys: pytest.CaptureFixture) -> None:
    _, folder = run
    rec = Recommender.load(folder)
    known = list(rec.bundle.catalog.track_ids[rec.bundle.decoder.rows[:3]])
    with pytest.raises(UnknownTracksError, match="t_nope"):
        rec.recommend([*known, "t_nope"], k=5)
    out = rec.recommend([*known, "t_nope"], k=5, unknown="skip")
    assert len(out) == 5 and rec.last_skipped == ["t_nope"]
    with pytest.raises(ValueError, match="outcome 'meh'"):
        rec.recommend(known, ["meh"] * 3, k=5)
    assert main(["recommend", "--model", str(folder), "--history", "t_nope", "--k", "3"]) == 2
    assert "t_nope" in (err := capsys.readouterr().err) and "--unknown skip" in err
    assert main(["recommend", "--model", str(folder), "--history", *known, "--k", "3"]) == 0
    assert len(capsys.readouterr().out.split()) == 3


def test_recommender_validates_its_arguments(run, capsys: pytest.CaptureFixture) -> None:
    _, folder = run
    rec = Recommender.load(folder)
    known = [str(t) for t in rec.bundle.catalog.track_ids[rec.bundle.decoder.rows[:3]]]
    with pytest.raises(ValueError, match="history must be a list of track ids, not str"):
        rec.recommend(known[0])  # once read one letter at a time
    with pytest.raises(ValueError, match=r"history\[1\] \(5\) must be a string"):
        rec.recommend([known[0], 5])
    with pytest.raises(ValueError, match="outcomes must be a list of outcome names"):
        rec.recommend(known[:1], "skip_1")
    for k in (2.5, 0, True, "3"):
        with pytest.raises(ValueError, match=r"^k \("):
            rec.recommend(known, k=k)
    with pytest.raises(ValueError, match=r"^hour \(99\)"):
        rec.recommend(known, context=ListeningContext(hour=99))
    with pytest.raises(ValueError, match="context .* must be a ListeningContext"):
        rec.recommend(known, context={"hour": 3})
    evening = ListeningContext(context_type="radio", hour=21, session_length=12)
    assert len(rec.recommend(known, context=evening, k=4)) == 4
    # skip_2 and skip_3 are the short names of skip_2_only and skip_3_only
    assert (rec.recommend(known, ["skip_2", "skip_3", "skip_1"], k=5)
            == rec.recommend(known, ["skip_2_only", "skip_3_only", "skip_1"], k=5))
    assert main(["recommend", "--model", str(folder), "--history", *known, "--outcomes",
                 "skip_2", "skip_3", "not_skipped", "--k", "2"]) == 0
    assert len(capsys.readouterr().out.split()) == 2


def test_resume_continues_training_into_a_new_run(run, tmp_path: Path) -> None:
    model, folder = run
    resumed, new = resume(folder, timesteps=80, runs_dir=tmp_path, eval_freq=10_000)
    assert new.parent == tmp_path and (new / "policy.pt").is_file()
    assert resumed.num_timesteps == model.num_timesteps + 80
    record = json.loads((new / "run.json").read_text())
    assert record["train"]["timesteps"] == 80 and record["env"]["world"] == "A"
    assert len(Recommender.load(new).recommend(["x"], unknown="skip", k=3)) == 3


def test_cli_train_says_what_it_does_and_where_everything_is(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    import agents.benchmark

    def judged(agents, env_config, rounds, seed, **options):
        """The benchmark is tested above: here only what the command prints around it."""
        return {world: {name: dict.fromkeys(METRICS, 0.5) for name in (*agents, "random")}
                for world in ("train_world", "held_out_world")}

    monkeypatch.setattr(agents.benchmark, "benchmark_run", judged)
    runs = tmp_path / "runs"
    assert main(["train", "--timesteps", "160", "--num-envs", "4", "--eval-freq", "80",
                 "--ensemble", "1", "--uncertainty-penalty", "0", "--rounds", "1",
                 "--runs-dir", str(runs), "--no-progress"]) == 0
    out = capsys.readouterr().out
    (run,) = runs.iterdir()
    for said in ("data: the synthetic default set", "simulator: world A", "done in",
                 "evaluation at step 80: mean session reward", f"run folder: {run}",
                 str(run / "results.md"), str(run / "results.png"),
                 f"tensorboard --logdir {run / 'tensorboard'}", str(run / "policy.pt"),
                 str(run / "eval" / "best_model.zip"), "from agents.training import resume"):
        assert said in out, said
    assert out.index("simulator: world A") < out.index("evaluation at step 80")
    assert (run / "results.md").is_file() and (run / "results.png").is_file()
    assert not (run / "checkpoints").exists()  # none by default: final and best only
    command = next(line.strip() for line in out.splitlines()
                   if line.strip().startswith("musicgym recommend"))
    argv = shlex.split(command)
    assert argv[argv.index("--history") + 1].startswith("t_")
    assert main(argv[1:]) == 0  # the printed command runs as it is
    assert len(capsys.readouterr().out.split()) == 10


def test_prepare_fits_every_judging_world_with_the_progress_asked(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """`--no-progress` reaches the fits: the training and judging worlds are fitted up front."""
    import musicgym.simulator.fitting as fitting
    from musicgym.commands.train import _prepare
    from musicgym.envs.bundle import world_members

    asked = []
    real = fitting.load_or_fit

    def spy(dataset, config=None, progress=True, **options):
        asked.append((config, progress))
        return real(dataset, config, progress=progress, **options)

    monkeypatch.setattr(fitting, "load_or_fit", spy)
    config = EnvConfig(world="A", ensemble=1, uncertainty_penalty=0.0)
    for progress in (False, True):
        asked.clear()
        _prepare(config, progress)
        # world A's member, then world B's (the judge); the truth world is not a fit
        expected = world_members(config) + world_members(EnvConfig(world="B", ensemble=1))
        assert asked == [(member, progress) for member in expected]
    asked.clear()
    _prepare(EnvConfig(world="all", ensemble=1, uncertainty_penalty=0.0), False)
    assert [c for c, _ in asked] == world_members(EnvConfig(world="all", ensemble=1))


@pytest.mark.slow
def test_ddpg_learns_to_beat_random(tmp_path: Path) -> None:
    """On the synthetic default set, some tracks suit users far better: DDPG must find them."""
    config = TrainConfig(timesteps=3_000, num_envs=8, eval_freq=10_000, eval_episodes=4,
                         runs_dir=tmp_path, progress=False)
    model, _ = train(config, EnvConfig(world="A"))
    results = benchmark_run({"ddpg": model}, EnvConfig(world="A"), rounds=1, seed=1,
                            num_envs=64)["train_world"]
    assert results["ddpg"]["listened"] > results["random"]["listened"] + 0.08


def test_run_folders_started_in_the_same_second_do_not_collide(tmp_path: Path) -> None:
    from agents.training import run_folder

    config = TrainConfig(runs_dir=tmp_path)
    folders = {run_folder(config) for _ in range(3)}
    assert len(folders) == 3 and all(f.is_dir() for f in folders)


def test_cli_training_defaults_are_train_config_defaults() -> None:
    """`musicgym train` with no options trains exactly what `TrainConfig()` describes."""
    from musicgym.cli import build_parser
    from musicgym.commands.train import _configs

    args = build_parser().parse_args(["train"])
    config, _ = _configs(args, seed=0, runs_dir=Path("runs"))
    assert asdict(config) == asdict(TrainConfig(exp_name="ddpg"))
    assert (config.num_envs, config.timesteps) == (32, 240_000)


def test_worlds_a_and_b_disagree_about_the_same_users_and_tracks() -> None:
    a, b = (MusicRecVectorEnv(4, sessions="test", world=w, catalog="A") for w in ("A", "B"))
    for vec in (a, b):
        vec.sessions.reset(np.arange(4), np.random.default_rng(0), logged=np.arange(4))
    tracks = a.bundle.decoder.rows[:300]
    p_a, p_b = (v.sessions.listen_probs(np.zeros(len(tracks), int), tracks) for v in (a, b))
    assert np.abs(p_a - p_b).mean() > 0.02
    # a world can also be read from an env that another world judges
    np.testing.assert_allclose(b.sessions.listen_probs(np.zeros(len(tracks), int), tracks,
                                                       a.bundle.world), p_a, rtol=1e-5)


def test_train_script_trains_benchmarks_and_saves_a_loadable_run(tmp_path: Path) -> None:
    """scripts/train.py, the one-file version of the main job, runs end to end."""
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run(
        [sys.executable, str(root / "scripts" / "train.py"), "--timesteps", "400",
         "--num-envs", "4", "--eval-freq", "200", "--rounds", "1", "--runs-dir", str(tmp_path)],
        cwd=root, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    rows = {line.split("|")[1].strip() for line in done.stdout.splitlines()
            if line.startswith("| ")}
    assert {"ddpg", "random", "most_popular", "logged", "item_knn", "greedy_model",
            "greedy_lcb", "greedy_oracle"} <= rows
    assert "held-out world" in done.stdout and "truth world" in done.stdout
    (run,) = tmp_path.iterdir()
    assert (run / "model.zip").is_file() and (run / "eval" / "evaluations.npz").is_file()
    rec = Recommender.load(run)
    history = list(rec.bundle.catalog.track_ids[rec.bundle.decoder.rows[:3]])
    assert len(set(rec.recommend(history, k=5)) - set(history)) == 5
