"""`scripts/screen_teacher.py` on a tiny generated set: the teacher's ranking, judged as the
benchmark judges.

With κ 0 and η 0 the teacher is greedy-by-A itself, so its row must equal `greedy_model`'s;
a heavy taste weight hands each listener the tracks nearest their taste, which spreads the
picks over more of the catalog.
"""

from __future__ import annotations

from pathlib import Path

from musicgym.synthetic.generator import SyntheticConfig, generate

from .conftest import load_script


def test_the_plain_teacher_is_greedy_by_a_and_taste_spreads_it(tmp_path: Path) -> None:
    script = load_script("screen_teacher")
    data = generate(SyntheticConfig(n_sessions=400, n_tracks=600, seed=3), tmp_path / "set").root
    table = script.main(["--data", str(data), "--ensemble", "1", "--rounds", "1",
                         "--grid", "0:0", "1:0", "0:10"])
    assert list(table) == ["teacher κ 0 η 0", "teacher κ 1 η 0", "teacher κ 0 η 10",
                           "greedy_model", "most_popular"]
    for name, row in table.items():
        assert set(row) == {"B", "A", "gap", "coverage", "top10_share"}, name
        assert abs(row["gap"] - (row["A"] - row["B"])) < 1e-12
        assert all(0.0 <= row[k] <= 1.0 for k in ("B", "A", "coverage", "top10_share")), row
    assert table["teacher κ 0 η 0"] == table["greedy_model"]
    assert table["teacher κ 1 η 0"] != table["greedy_model"]  # pessimism changes the picks
    assert table["teacher κ 0 η 10"]["coverage"] > 1.5 * table["greedy_model"]["coverage"]
