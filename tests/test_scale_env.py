"""`scripts/benchmark_env.py --tracks-data DIR --json FILE` on a tiny generated set.

The script measures the env on any data: it must build the env the arguments say (the
generator's own users on a generated set, `min_plays`, the decoder's index), write every key
of issue 15's table, and report the decoder's recall honestly against exact decoding.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from musicgym.envs.bundle import load_bundle
from musicgym.envs.config import EnvConfig
from musicgym.synthetic.generator import SyntheticConfig, generate

from .conftest import load_script

KEYS = ("recommendable_tracks", "single_steps_per_s", "vector256_env_steps_per_s",
        "decode_recall_at_1", "pendulum_steps_per_s")
FAST = ["--seconds", "0.05", "--recall-protos", "300"]


@pytest.fixture(scope="module")
def script():
    return load_script("benchmark_env")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate(SyntheticConfig(n_sessions=400, n_tracks=3000, seed=3),
                    tmp_path_factory.mktemp("tiny") / "set").root


def run(script, argv: list[str], capsys: pytest.CaptureFixture) -> tuple[dict, str]:
    script.main(argv)
    out = capsys.readouterr().out
    return json.loads(Path(argv[argv.index("--json") + 1]).read_text()), out


def test_tracks_data_writes_every_key_measured_on_that_data(script, tiny: Path, tmp_path: Path,
                                                           capsys) -> None:
    path = tmp_path / "figures.json"
    figures, out = run(script, ["--tracks-data", str(tiny), "--min-plays", "1",
                                "--json", str(path), *FAST], capsys)
    for key in KEYS:
        assert isinstance(figures[key], int | float) and figures[key] > 0, key
        assert f"{key}: " in out  # printed too
    assert figures["env_kwargs"] == {"data": str(tiny), "world": "truth", "min_plays": 1}
    catalog = load_bundle(EnvConfig(data=tiny, world="truth", min_plays=1)).catalog
    # min_plays=1: every track heard once in the training sessions is recommendable
    heard = int((catalog.plays[:-1] >= 1).sum())
    assert figures["recommendable_tracks"] == heard == len(catalog.recommendable)
    assert 300 < heard < 3000
    five = load_bundle(EnvConfig(data=tiny, world="truth")).catalog
    assert len(five.recommendable) < heard / 2
    # below the index threshold decoding is exact: recall 1, measured on 300 protos
    assert figures["decoder_search"] == "exact" and figures["decode_recall_at_1"] == 1.0
    assert figures["recall_protos"] == 300
    ratio = figures["vector256_env_steps_per_s"] / figures["pendulum_steps_per_s"]
    assert figures["vector_over_pendulum"] == pytest.approx(ratio)


def test_recall_of_the_pool_is_measured_against_exact_decoding(script, tiny: Path,
                                                               tmp_path: Path, capsys) -> None:
    path = tmp_path / "pool.json"
    figures, _ = run(script, ["--tracks-data", str(tiny), "--min-plays", "1",
                              "--index-threshold", "0", "--json", str(path), *FAST], capsys)
    assert figures["decoder_search"] == "pool"
    decoder = load_bundle(EnvConfig(data=tiny, world="truth", min_plays=1,
                                    index_threshold=0)).decoder
    assert figures["decoder_pool_tracks"] == len(decoder.pool) < len(decoder)
    # the same 300 random protos, decoded by hand: exact argmax over every recommendable track
    protos = np.random.default_rng(0).uniform(-1, 1, (300, 1, decoder.vectors.shape[1]))
    protos = protos.astype(np.float32)
    exact = decoder.rows[(protos[:, 0] @ decoder.vectors.T).argmax(axis=1)]
    found = decoder.decode(protos, np.full((300, 1), -1))[0][:, 0]
    assert figures["decode_recall_at_1"] == pytest.approx(float((found == exact).mean()))
    assert 0.8 <= figures["decode_recall_at_1"] <= 1.0


@pytest.mark.parametrize(("argv", "words"), [
    (["--tracks-data", "{tmp}/missing"], ["--tracks-data", "missing", "no such"]),
    (["--json", "{tmp}/nowhere/f.json"], ["--json", "nowhere", "does not exist"]),
    (["--recall-protos", "0"], ["--recall-protos (0)", "at least 1"]),
    (["--min-plays", "0"], ["--min-plays (0)", "at least 1"]),
    (["--seconds", "0"], ["--seconds (0.0)", "positive"]),
])
def test_bad_arguments_stop_before_any_work(script, tmp_path: Path, capsys, argv: list[str],
                                            words: list[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        script.main([a.format(tmp=tmp_path) for a in argv])
    assert stop.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    for word in words:
        assert word in err
