"""`scripts/benchmark_cooccurrence.py` on a small drawn log: figures printed, written, equal."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .conftest import load_script


def test_blocked_counts_are_the_one_block_counts_with_less_memory(tmp_path: Path) -> None:
    script = load_script("benchmark_cooccurrence")
    out = tmp_path / "cooc.json"
    figures = script.main(["--rows", "60000", "--tracks", "5000", "--block-rows", "5000",
                           "--json", str(out)])
    assert figures["identical"] is True
    assert figures["pairs_nnz"] > 10_000 and figures["sessions"] > 3_000
    # twelve blocks hold a twelfth of the pairs at a time (the counts themselves stay)
    assert figures["blocked_peak_gib"] < 0.5 * figures["one_block_peak_gib"]
    assert json.loads(out.read_text()) == figures


def test_bad_sizes_are_refused_before_any_work(capsys: pytest.CaptureFixture[str]) -> None:
    script = load_script("benchmark_cooccurrence")
    with pytest.raises(SystemExit):
        script.main(["--block-rows", "0"])
    assert "--block-rows (0) must be >= 1" in capsys.readouterr().err
