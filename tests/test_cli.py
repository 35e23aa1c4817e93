"""The `musicgym` command: help for every command, a bare `musicgym`, and `musicgym tracks`."""

from __future__ import annotations

import numpy as np
import pytest

from musicgym.cli import COMMANDS, main
from musicgym.commands.tracks import recommendable_tracks
from musicgym.datasets import load_dataset
from musicgym.embeddings.catalog import CatalogSpec, load_or_fit_catalog
from musicgym.simulator.worlds import world_split


@pytest.mark.parametrize("argv", [[], *([name] for name in COMMANDS)])
def test_help_prints_and_exits_0(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main([*argv, "--help"])
    assert done.value.code == 0
    assert "usage: musicgym" in capsys.readouterr().out


def test_bare_musicgym_lists_every_command_and_exits_2(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("usage: musicgym")
    listed = {line.split()[0] for line in err.splitlines() if line.startswith("    ")}
    assert set(COMMANDS) <= listed


def read_tracks(text: str) -> list[tuple[str, int]]:
    lines = text.strip().splitlines()
    assert lines[0] == "track_id\tplays"
    return [(row.split("\t")[0], int(row.split("\t")[1])) for row in lines[1:]]


def test_tracks_lists_the_most_played_recommendable_tracks_of_world_a(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tracks", "--top", "5"]) == 0
    out, err = capsys.readouterr()
    shown = read_tracks(out)
    catalog = load_or_fit_catalog(load_dataset(), world_split("A"), CatalogSpec(min_plays=5))
    plays = catalog.plays[catalog.recommendable]
    assert [p for _, p in shown] == sorted(plays, reverse=True)[:5]
    assert set(catalog.track_ids[catalog.recommendable]) >= {t for t, _ in shown}
    rows = catalog.rows(np.array([t for t, _ in shown], dtype=object))
    np.testing.assert_array_equal(catalog.plays[rows], [p for _, p in shown])
    assert f"the 5 most played of {len(catalog.recommendable)} recommendable tracks" in err


def test_tracks_top_0_lists_all_and_min_plays_filters(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tracks", "--top", "0", "--world", "all", "--min-plays", "40"]) == 0
    shown = read_tracks(capsys.readouterr().out)
    every = recommendable_tracks(None, "all", 5)
    assert shown == [(t, p) for t, p in every if p >= 40]
    assert 0 < len(shown) < len(every)
    plays = [p for _, p in shown]
    assert plays == sorted(plays, reverse=True) and min(plays) >= 40


@pytest.mark.parametrize(("argv", "message"), [
    (["--top", "-1"], "--top (-1) must be 0"),
    (["--min-plays", "0"], "--min-plays (0) must be at least 1"),
])
def test_tracks_bad_arguments_are_one_line_errors(argv: list[str], message: str,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tracks", *argv]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("musicgym tracks: error: ") and message in err
    assert len(err.strip().splitlines()) == 1
