"""engine/parallel.default_jobs: a run with no --jobs computes in process when it is small."""

from __future__ import annotations

import json

import pytest

from mcverify.cli.main import main
from mcverify.engine import parallel, pipeline
from mcverify.engine.parallel import SMALL_RUN_DRAWS, default_jobs, usable_cores


def test_small_runs_take_one_process_and_large_ones_every_core():
    assert default_jobs(1, 2) == 1
    assert default_jobs(53, 200_000) == 1  # configs/example.toml
    assert default_jobs(1, SMALL_RUN_DRAWS) == 1
    assert default_jobs(2, SMALL_RUN_DRAWS) == usable_cores()
    assert default_jobs(100_000, 10_000) == usable_cores()


CONFIG = """
[run]
samples = {samples}
seed = 3

[[sweep]]
name = "s"
p = {{ mean = 0.0, std = {{ linspace = [0.5, 2.0, 8] }} }}
q = {{ mean = 0.0, std = 1.0 }}
"""


@pytest.mark.parametrize(("samples", "workers"), [(1000, 1), (SMALL_RUN_DRAWS // 4, 2)])
def test_run_without_jobs_picks_by_size(tmp_path, monkeypatch, samples, workers):
    """The pipeline hands map_blocks one worker for a small run, every core for a large one."""
    monkeypatch.setattr(parallel, "usable_cores", lambda: 2)
    seen = []
    real = pipeline.map_blocks

    def spy(task, todo, w, **kw):
        seen.append(w)
        return real(task, todo[:0], 1, **kw)  # nothing computed: only the choice is under test

    monkeypatch.setattr(pipeline, "map_blocks", spy)
    cfg = tmp_path / "c.toml"
    cfg.write_text(CONFIG.format(samples=samples))
    main(["run", str(cfg), "-o", str(tmp_path / "out"), "-q"])  # computes nothing: only the choice counts
    assert seen == [workers]


def test_small_run_records_one_process(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text(CONFIG.format(samples=1000))
    assert main(["run", str(cfg), "-o", str(tmp_path), "-q"]) == 0
    assert json.loads((tmp_path / "c.provenance.json").read_text())["workers"] == "1 process"
