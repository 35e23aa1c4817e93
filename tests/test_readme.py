"""README.md runs as written: every python block, the ids it quotes, its commands and figures."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from musicgym.commands.tracks import recommendable_tracks

from .conftest import TEST_DATA_VARIABLE, shared_data_dir

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.MULTILINE | re.DOTALL)


def blocks(language: str) -> list[tuple[int, str]]:
    """(line number, code) of every fenced block of `language` in README.md."""
    return [(README[: m.start()].count("\n") + 1, m.group(2))
            for m in FENCE.finditer(README) if m.group(1) == language]


PYTHON = blocks("python")


def test_every_python_block_is_found() -> None:
    assert len(PYTHON) == README.count("```python") >= 4


@pytest.mark.parametrize(("line", "code"), PYTHON, ids=[f"line-{n}" for n, _ in PYTHON])
def test_python_block_runs_by_itself(line: int, code: str, tmp_path: Path) -> None:
    """Each block in a fresh interpreter, in an empty folder, with the tests' private cache."""
    env = os.environ | {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"README.md line {line}:\n{done.stderr[-3000:]}"


def test_the_quoted_tracks_output_is_what_musicgym_tracks_prints() -> None:
    (text,) = [code for _, code in blocks("text") if code.startswith("track_id\tplays")]
    quoted = [(row.split("\t")[0], int(row.split("\t")[1])) for row in text.splitlines()[1:]]
    assert quoted == recommendable_tracks()[: len(quoted)]
    # every track id the README uses anywhere is one of them
    used = set(re.findall(r"t_[0-9a-f]{8}-[0-9a-f-]{27}", README))
    assert used and used <= {t for t, _ in quoted}


def test_shell_blocks_have_no_placeholders_a_shell_would_misread() -> None:
    for line, code in blocks("bash"):
        assert not re.search(r"<[A-Za-z_ ]+>", code), f"README.md line {line}: {code}"
        assert "…" not in code, f"README.md line {line}: {code}"


def test_faiss_install_is_spelled_the_same_in_readme_and_benchmark_script() -> None:
    script = (ROOT / "scripts" / "benchmark_env.py").read_text()
    assert 'pip install -e ".[faiss]"' in README and 'pip install -e ".[faiss]"' in script
    assert "musicgym[faiss]" not in README + script


def test_figures_in_the_readme_exist_as_png() -> None:
    figures = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", README)
    assert {"docs/benchmark.png", "docs/learning_curve.png"} <= set(figures)
    for figure in figures:
        assert (ROOT / figure).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", figure
    assert "scripts/docs_figures.py" in README and (ROOT / "scripts/docs_figures.py").is_file()


def test_test_data_folder_comes_from_the_environment(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    assert TEST_DATA_VARIABLE in README
    monkeypatch.setenv(TEST_DATA_VARIABLE, str(tmp_path))
    assert shared_data_dir() == tmp_path.resolve()
    monkeypatch.delenv(TEST_DATA_VARIABLE)
    assert shared_data_dir() == ROOT.parent / "shared" / "data"


def test_a_test_data_folder_without_the_sample_stops_pytest(tmp_path: Path) -> None:
    env = os.environ | {TEST_DATA_VARIABLE: str(tmp_path / "nowhere")}
    done = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q",
                           "tests/test_cli.py"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 4  # pytest's usage error
    assert f"{TEST_DATA_VARIABLE} is '{tmp_path / 'nowhere'}'" in done.stdout + done.stderr
    assert "mssd/log_sample.csv.gz" in done.stdout + done.stderr
