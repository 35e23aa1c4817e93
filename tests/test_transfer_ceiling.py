"""`scripts/transfer_ceiling.py` on a tiny generated set: every row judged in B, A and truth.

The script's table backs README's claim about what world A's knowledge is worth in world B;
here its policies must be the ones it names: shortlists bound coverage, and the myopic best
under A beats popularity in A, the world it reads.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from musicgym.envs.bundle import load_bundle
from musicgym.envs.config import EnvConfig
from musicgym.synthetic.generator import SyntheticConfig, generate

from .conftest import load_script


@pytest.fixture(scope="module")
def script():
    return load_script("transfer_ceiling")


def test_every_policy_is_judged_in_every_world(script, tmp_path: Path) -> None:
    data = generate(SyntheticConfig(n_sessions=400, n_tracks=600, seed=3), tmp_path / "set").root
    table = script.main(["--data", str(data), "--ensemble", "1", "--rounds", "1",
                         "--top", "30", "--lcb", "2"])
    assert list(table) == ["most_popular", "static_A", "static_A+pop", "uniform_top30_pop",
                           "uniform_top30_A", "uniform_top30_B", "greedy_A", "lcb2"]
    for name, row in table.items():
        assert set(row) == {"B", "A", "truth", "coverage"}, name
        assert all(0.0 <= v <= 1.0 for v in row.values()), (name, row)
    catalog = load_bundle(EnvConfig(data=str(data), catalog="A", world="B",
                                    sessions="test")).catalog
    # 30 tracks outlast a session (at most 20 plays), so a shortlist never runs dry
    shortlist = 30 / len(catalog.recommendable)
    for policy in ("uniform_top30_pop", "uniform_top30_A", "uniform_top30_B"):
        assert 0 < table[policy]["coverage"] <= shortlist + 1e-12, policy
    # the myopic best under A's model, judged by A, beats A's most played tracks
    assert table["greedy_A"]["A"] > table["most_popular"]["A"] + 0.02
