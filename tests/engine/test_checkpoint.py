"""Checkpoints and --resume: nothing lost, nothing computed twice, the same table as an uninterrupted run."""

from __future__ import annotations

import fcntl
import hashlib
import itertools
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import commands
import numpy as np
import pandas as pd
import pytest

from mcverify.cli.main import main
from mcverify.engine.checkpoint import Checkpoint, CheckpointError, Manifest

ROOT = Path(__file__).resolve().parents[2]

CONFIG = """
[run]
samples = 4000
seed = 9
[[pair]]
name = "corr"
p = { mean = [0.0, 1.0], cov = [[1.0, 0.5], [0.5, 2.0]] }
q = { mean = [0.0, 0.0], var = [1.0, 1.0] }
[[sweep]]
name = "grid"
p = { mean = { linspace = [-1, 1, 5] }, std = { logspace = [-1, 1, 30] } }
q = { mean = 0.0, std = 1.0 }
direction = "both"
"""


def table(path: Path) -> pd.DataFrame:
    frame = pd.read_csv(path)
    return frame.drop(columns=[c for c in frame.columns if c.startswith("seconds")])


def manifest(**changes) -> Manifest:
    base = dict(
        config="c.toml",
        config_hash="a" * 64,
        seed=1,
        samples=10,
        confidence=0.95,
        quad_rtol=1e-10,
        cases=5,
        block_size=2,
        mcverify="0.1.0",
    )
    base.update(changes)
    return Manifest(**base)


def test_manifest_differences():
    assert manifest().differences(manifest()) == []
    (msg,) = manifest(config_hash="b" * 64).differences(manifest())
    assert msg.startswith("the config has changed since the checkpoint was made (SHA-256 aaaaaaaaaaaa... then")
    (msg,) = manifest(samples=20).differences(manifest())
    assert msg == "it was made with samples 10, this run has 20"


def test_blocks_round_trip_and_leftovers(tmp_path):
    ck = Checkpoint(tmp_path / ".x.checkpoint")
    assert not ck.exists() and ck.manifest() is None and ck.completed() == set()
    ck.start(manifest())
    assert ck.manifest() == manifest()
    cols = {
        "index": np.arange(3),
        "name": ["a", "b,c", ""],
        "kl_closed": np.array([0.1, np.nan, 3.0]),
        "quad_direct_reliable": np.array([1, 0, -1], dtype=np.int8),
    }
    ck.write(4, cols)
    (ck.directory / ".block-00000005.npz.abc.part").write_bytes(b"half a file")
    assert ck.completed() == {4}
    assert not list(ck.directory.glob("*.part"))  # leftovers of a killed write are removed
    back = ck.read(4)
    assert back["name"] == cols["name"] and np.array_equal(back["kl_closed"], cols["kl_closed"], equal_nan=True)
    assert back["quad_direct_reliable"].tolist() == [1, 0, -1]
    assert ck.count_cases({0, 2}, 2, 5) == 3
    ck.remove()
    assert not ck.directory.exists()


def run_cli(cfg: Path, out: Path, *extra: str) -> int:
    return main(["run", str(cfg), "-o", str(out), "-q", "--jobs", "1", *extra])


def test_resume_computes_only_missing_blocks(tmp_path, capsys):
    cfg = tmp_path / "ck.toml"
    cfg.write_text(CONFIG)
    assert run_cli(cfg, tmp_path / "clean") == 0
    assert not (tmp_path / "clean" / ".ck.checkpoint").exists()  # removed after success

    out = tmp_path / "out"
    assert run_cli(cfg, out, "--keep-checkpoint") == 0
    ck = Checkpoint(out / ".ck.checkpoint")
    blocks = sorted(ck.completed())
    assert len(blocks) > 10 and json.loads((ck.directory / "manifest.json").read_text())["cases"] == 301
    # pretend the run died: keep every third block, mark the others with poison
    kept = set(blocks[::3])
    for b in blocks:
        if b not in kept:
            (ck.directory / f"block-{b:08d}.npz").unlink()
    stamp = {b: (ck.directory / f"block-{b:08d}.npz").stat().st_mtime_ns for b in kept}
    (out / "ck.csv").unlink()  # a run that died before writing has neither table nor provenance
    (out / "ck.provenance.json").unlink()

    capsys.readouterr()
    assert run_cli(cfg, out) == 2  # no silent restart over an unfinished run
    err = capsys.readouterr().err
    assert "holds an unfinished run" in err and "--resume" in err and len(err.strip().splitlines()) == 1

    assert run_cli(cfg, out, "--resume", "--keep-checkpoint") == 0
    pd.testing.assert_frame_equal(table(out / "ck.csv"), table(tmp_path / "clean" / "ck.csv"))
    for b in kept:  # saved blocks were read, not recomputed
        assert (ck.directory / f"block-{b:08d}.npz").stat().st_mtime_ns == stamp[b]
    prov = json.loads((out / "ck.provenance.json").read_text())
    assert 0 < prov["resumed_cases"] < 301


def test_changed_config_is_refused(tmp_path, capsys):
    cfg = tmp_path / "ck.toml"
    cfg.write_text(CONFIG)
    out = tmp_path / "out"
    assert run_cli(cfg, out, "--keep-checkpoint") == 0
    cfg.write_text(CONFIG.replace("seed = 9", "seed = 10"))
    capsys.readouterr()
    assert run_cli(cfg, out, "--resume") == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "cannot resume: the config has changed" in err and "--restart" in err
    cfg.write_text(CONFIG)
    assert run_cli(cfg, out, "--resume", "--samples", "5000") == 2
    assert "it was made with samples 4000, this run has 5000" in capsys.readouterr().err
    assert run_cli(cfg, out, "--resume", "--restart") == 2
    assert run_cli(cfg, out, "--restart") == 0
    assert not (out / ".ck.checkpoint").exists()
    assert run_cli(cfg, out, "--resume") == 0  # nothing to resume: a fresh run


# ------------------------------------------------------------ real processes
KILL_CONFIG = """
[run]
samples = 1_000_000
seed = 3
[[sweep]]
name = "g"
p = { mean = { linspace = [-1, 1, 10] }, std = { logspace = [-1, 1, 20] } }
q = { mean = 0.0, std = 1.0 }
"""


def start(cfg: Path, out: Path, *extra: str) -> subprocess.Popen[str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.Popen(
        [sys.executable, "-m", "mcverify", "run", str(cfg), "-o", str(out), "--jobs", "2", *extra],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for_blocks(folder: Path, n: int, proc: subprocess.Popen[str], timeout: float = 120) -> None:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if folder.is_dir() and len(list(folder.glob("block-*.npz"))) >= n:
            return
        if proc.poll() is not None:
            pytest.fail(f"the run ended before it could be interrupted: {proc.communicate()}")
        time.sleep(0.01)
    pytest.fail("no blocks were saved")


def children(pid: int) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(entry))
    return out


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.fixture(scope="module")
def clean_table(tmp_path_factory):
    d = tmp_path_factory.mktemp("clean")
    cfg = d / "kill.toml"
    cfg.write_text(KILL_CONFIG)
    assert main(["run", str(cfg), "-o", str(d), "-q"]) == 0
    return table(d / "kill.csv")


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc").is_dir(), reason="needs /proc")
def test_sigkill_then_resume_equals_clean_run(tmp_path, clean_table):
    cfg = tmp_path / "kill.toml"
    cfg.write_text(KILL_CONFIG)
    folder = tmp_path / ".kill.checkpoint"
    proc = start(cfg, tmp_path)
    wait_for_blocks(folder, 3, proc)
    workers = children(proc.pid)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    done = len(list(folder.glob("block-*.npz")))
    assert 3 <= done < 50 and not (tmp_path / "kill.csv").exists()  # 50 blocks of 4 cases
    t0 = time.monotonic()
    while any(alive(w) for w in workers) and time.monotonic() - t0 < 30:
        time.sleep(0.05)
    assert not any(alive(w) for w in workers)  # no orphaned workers keep computing

    resumed = start(cfg, tmp_path, "--resume")
    out, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err
    assert "200 cases: " in out and err == ""
    pd.testing.assert_frame_equal(table(tmp_path / "kill.csv"), clean_table)
    assert not folder.exists()
    assert json.loads((tmp_path / "kill.provenance.json").read_text())["resumed_cases"] >= 3 * 4


@pytest.mark.slow
def test_ctrl_c_exits_130_and_keeps_the_checkpoint(tmp_path, clean_table):
    cfg = tmp_path / "kill.toml"
    cfg.write_text(KILL_CONFIG)
    folder = tmp_path / ".kill.checkpoint"
    proc = start(cfg, tmp_path)
    wait_for_blocks(folder, 1, proc)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert out == "" and "Traceback" not in err
    assert "cases are saved in" in err and "--resume" in err and err.strip().endswith("mcverify: interrupted")
    assert (folder / "manifest.json").is_file() and list(folder.glob("block-*.npz"))
    assert not list(folder.glob("*.part"))
    assert main(["run", str(cfg), "-o", str(tmp_path), "-q", "--resume"]) == 0
    pd.testing.assert_frame_equal(table(tmp_path / "kill.csv"), clean_table)


@pytest.mark.parametrize("blocks_before", [0, 1])
def test_ctrl_c_before_any_saved_case_leaves_no_checkpoint(tmp_path, monkeypatch, capsys, blocks_before):
    """Regression: Ctrl-C before the first block was saved kept an empty checkpoint and said
    "0 of N cases are saved ... --resume", and the next run refused to start without a flag."""
    from mcverify.engine import pipeline

    real = pipeline.map_blocks

    def interrupted(task, todo, workers, **kw):
        yield from itertools.islice(real(task, todo, 1, **kw), blocks_before)
        raise KeyboardInterrupt

    monkeypatch.setattr(pipeline, "map_blocks", interrupted)
    cfg = tmp_path / "c.toml"
    cfg.write_text(CONFIG)
    folder = tmp_path / ".c.checkpoint"
    assert main(["run", str(cfg), "-o", str(tmp_path), "-q", "--jobs", "1"]) == 130
    err = capsys.readouterr().err
    if blocks_before:  # a saved case is worth resuming: kept, and the line says how
        assert re.fullmatch(
            r"mcverify: [\d,]+ of [\d,]+ cases are saved in .*; run the same command with --resume to continue\nmcverify: interrupted\n",
            err,
        ), err
        assert list(folder.glob("block-*.npz"))
    else:
        assert err == "mcverify: interrupted\n" and not folder.exists()
        monkeypatch.setattr(pipeline, "map_blocks", real)
        assert main(["run", str(cfg), "-o", str(tmp_path), "-q"]) == 0  # no --resume/--restart asked for


# ------------------------------------------------- links: never followed to delete
SMALL = """
[run]
samples = 1000
seed = 1
[[pair]]
name = "x"
p = { mean = 0.0, std = 1.0 }
q = { mean = 0.0, std = 2.0 }
"""


def _precious(folder: Path) -> set[str]:
    (folder / "sub").mkdir(parents=True)
    (folder / "a.txt").write_text("keep")
    (folder / "sub" / "b.txt").write_text("keep too")
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


@pytest.mark.parametrize("extra", [(), ("--restart",), ("--resume",)])
def test_symlinked_checkpoint_folder_is_refused_and_its_target_kept(tmp_path, extra):
    """Regression: a link at .<stem>.checkpoint made a fresh run empty the folder it points to."""
    precious = tmp_path / "precious"
    before = _precious(precious)
    out = tmp_path / "out"
    out.mkdir()
    (out / ".c.checkpoint").symlink_to(precious, target_is_directory=True)
    cfg = tmp_path / "c.toml"
    cfg.write_text(SMALL)
    proc = commands.mcverify("run", str(cfg), "-o", str(out), *extra, timeout=120, cwd=ROOT)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "is a symbolic link" in lines[0] and ".c.checkpoint" in lines[0]
    assert "Traceback" not in proc.stderr
    assert {str(p.relative_to(precious)) for p in precious.rglob("*")} == before
    assert (out / ".c.checkpoint").is_symlink()
    assert sorted(p.name for p in out.iterdir()) == [".c.checkpoint"]  # nothing computed, nothing written


def test_dangling_link_and_file_at_the_checkpoint_name_are_refused(tmp_path):
    link = tmp_path / ".a.checkpoint"
    link.symlink_to(tmp_path / "nowhere")
    with pytest.raises(CheckpointError, match="symbolic link"):
        Checkpoint(link).remove()
    plain = tmp_path / ".b.checkpoint"
    plain.write_text("not a folder")
    with pytest.raises(CheckpointError, match="not a folder"):
        Checkpoint(plain).manifest()
    assert plain.read_text() == "not a folder"


def test_remove_deletes_links_inside_not_their_targets(tmp_path):
    precious = tmp_path / "precious"
    before = _precious(precious)
    ck = Checkpoint(tmp_path / ".x.checkpoint")
    ck.start(manifest())
    (ck.directory / "linked-dir").symlink_to(precious, target_is_directory=True)
    (ck.directory / "linked-file").symlink_to(precious / "a.txt")
    ck.remove()
    assert not ck.directory.exists()
    assert {str(p.relative_to(precious)) for p in precious.rglob("*")} == before


# ------------------------------------- blocks bound to their run, damaged blocks
def run_proc(cfg: Path, out: Path, *extra: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """``mcverify run`` in a process of its own, without -q (a damaged block's warning is printed then)."""
    return commands.mcverify("run", str(cfg), "-o", str(out), "--jobs", "1", *extra, timeout=timeout)


@pytest.fixture(scope="module")
def kept(tmp_path_factory):
    """A clean run of CONFIG (seed 9) and of the same config with --seed 1, both with their checkpoints kept."""
    d = tmp_path_factory.mktemp("kept")
    cfg = d / "ck.toml"
    cfg.write_text(CONFIG)
    assert main(["run", str(cfg), "-o", str(d / "seed9"), "-q", "--jobs", "1", "--keep-checkpoint"]) == 0
    assert main(["run", str(cfg), "-o", str(d / "seed1"), "-q", "--jobs", "1", "--keep-checkpoint", "--seed", "1"]) == 0
    return d


def resumable(kept: Path, tmp_path: Path) -> tuple[Path, Path, Checkpoint]:
    """A copy of the seed-9 run's config and checkpoint, as a run killed before writing its tables leaves them."""
    cfg = tmp_path / "ck.toml"
    cfg.write_text(CONFIG)
    out = tmp_path / "out"
    out.mkdir()
    shutil.copytree(kept / "seed9" / ".ck.checkpoint", out / ".ck.checkpoint", symlinks=True)
    return cfg, out, Checkpoint(out / ".ck.checkpoint")


def assert_resumed(proc: subprocess.CompletedProcess[str], out: Path, kept: Path, *warnings: str) -> None:
    """Exit 0, stderr exactly ``warnings`` (one line each, in that order), the clean run's table, no checkpoint left."""
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    folder = out / ".ck.checkpoint"
    assert proc.stderr.splitlines() == [
        f"mcverify: {folder}: block {w}; computing it again" if w[0].isdigit() else w for w in warnings
    ]
    pd.testing.assert_frame_equal(table(out / "ck.csv"), table(kept / "seed9" / "ck.csv"))
    assert not folder.exists()


def test_checkpoint_records_bind_each_block(kept):
    ck = Checkpoint(kept / "seed9" / ".ck.checkpoint")
    assert ck.manifest().format == 2
    record = json.loads((ck.directory / "block-00000003.json").read_text())
    assert record["block"] == 3 and record["run"]["seed"] == 9 and "config" not in record["run"]
    assert record["sha256"] == hashlib.sha256((ck.directory / "block-00000003.npz").read_bytes()).hexdigest()
    assert (ck.directory / "lock").is_file()  # kept with the checkpoint, its holder long gone


def test_block_copied_from_a_run_with_another_seed_is_computed_again(kept, tmp_path):
    cfg, out, ck = resumable(kept, tmp_path)
    other = kept / "seed1" / ".ck.checkpoint"
    for name in ("block-00000002.npz", "block-00000002.json", "block-00000005.npz"):  # 5: without its record
        shutil.copyfile(other / name, ck.directory / name)
    proc = run_proc(cfg, out, "--resume")
    assert_resumed(
        proc,
        out,
        kept,
        "2 is damaged (made by another run: seed 1, this run has 9)",
        "5 is damaged (its bytes do not match the checksum in its record)",
    )


def _rewrite(path: Path, change) -> None:
    with np.load(path, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    change(arrays)
    np.savez(path, **arrays)


def test_block_with_kl_mc_edited_is_computed_again(kept, tmp_path):
    cfg, out, ck = resumable(kept, tmp_path)

    def edit(arrays):
        arrays["f"][arrays["f_names"].tolist().index("kl_mc")] += 1.0

    _rewrite(ck.directory / "block-00000004.npz", edit)
    proc = run_proc(cfg, out, "--resume")
    assert_resumed(proc, out, kept, "4 is damaged (its bytes do not match the checksum in its record)")


def test_block_with_a_missing_column_is_computed_again_even_with_a_matching_record(kept, tmp_path):
    cfg, out, ck = resumable(kept, tmp_path)

    def drop(arrays):
        names = arrays["f_names"].tolist()
        j = names.index("mc_p_value")
        arrays["f"] = np.delete(arrays["f"], j, axis=0)
        arrays["f_names"] = np.array(names[:j] + names[j + 1 :])

    block = ck.directory / "block-00000001.npz"
    _rewrite(block, drop)
    record_path = ck.directory / "block-00000001.json"
    record = json.loads(record_path.read_text())
    record["sha256"] = hashlib.sha256(block.read_bytes()).hexdigest()  # the record forged to match
    record_path.write_text(json.dumps(record))
    proc = run_proc(cfg, out, "--resume")
    assert_resumed(proc, out, kept, "1 is damaged (no column mc_p_value)")


@pytest.mark.parametrize("kind", ["folder", "fifo", "symlink"])
def test_block_that_is_not_a_regular_file_is_removed_and_computed_again(kept, tmp_path, kind):
    cfg, out, ck = resumable(kept, tmp_path)
    block = ck.directory / "block-00000003.npz"
    precious = tmp_path / "precious.npz"
    shutil.copyfile(block, precious)
    block.unlink()
    if kind == "folder":
        block.mkdir()
        (block / "inside").write_text("x")
    elif kind == "fifo":
        os.mkfifo(block)  # opening it for reading would block forever
    else:
        block.symlink_to(precious)  # the right bytes, but never followed
    proc = run_proc(cfg, out, "--resume", timeout=60)
    assert_resumed(proc, out, kept, "3 is damaged (not a regular file)")
    assert precious.read_bytes() == (kept / "seed9" / ".ck.checkpoint" / "block-00000003.npz").read_bytes()


# ------------------------------------------------------ one run per checkpoint
def _snapshot(folder: Path) -> dict[str, tuple[int, int, bytes]]:
    return {
        p.name: (p.stat().st_mtime_ns, p.stat().st_ino, p.read_bytes()) for p in sorted(folder.iterdir()) if p.is_file()
    }


@pytest.mark.parametrize("extra", [(), ("--resume",), ("--restart",)])
def test_second_run_on_a_locked_checkpoint_exits_2_and_changes_nothing(kept, tmp_path, extra):
    cfg, out, ck = resumable(kept, tmp_path)
    with open(ck.directory / "lock", "r+") as holder:
        fcntl.flock(holder, fcntl.LOCK_EX | fcntl.LOCK_NB)
        holder.truncate(0)
        holder.write(f"{os.getpid()}\n")
        holder.flush()
        before = _snapshot(ck.directory)
        proc = run_proc(cfg, out, *extra)
        assert proc.returncode == 2 and proc.stdout == ""
        assert proc.stderr == (
            f"mcverify: error: {ck.directory}: in use by another mcverify run (pid {os.getpid()}); "
            "wait for it or stop it\n"
        )
        assert _snapshot(ck.directory) == before
        assert sorted(p.name for p in out.iterdir()) == [".ck.checkpoint"]
    # the holder is gone (its lock file stays, with its pid): the next run goes on
    proc = run_proc(cfg, out, "--resume")
    assert_resumed(proc, out, kept)


@pytest.mark.slow
def test_restart_while_a_run_is_live_leaves_that_run_alone(tmp_path):
    cfg = tmp_path / "kill.toml"
    cfg.write_text(KILL_CONFIG.replace("samples = 1_000_000", "samples = 10_000_000"))  # about 30 s of work
    folder = tmp_path / ".kill.checkpoint"
    first = start(cfg, tmp_path)
    try:
        wait_for_blocks(folder, 1, first)
        saved = {p.name: p.stat().st_ino for p in folder.glob("block-*.npz")}
        second = run_proc(cfg, tmp_path, "--restart")
        assert second.returncode == 2 and second.stdout == ""
        assert second.stderr == (
            f"mcverify: error: {folder}: in use by another mcverify run (pid {first.pid}); wait for it or stop it\n"
        )
        assert first.poll() is None  # still running, its saved blocks untouched
        assert {p.name: p.stat().st_ino for p in folder.glob("block-*.npz") if p.name in saved} == saved
        wait_for_blocks(folder, len(saved) + 1, first)  # and still saving
        first.send_signal(signal.SIGINT)
        _, err = first.communicate(timeout=60)
    finally:
        if first.poll() is None:
            first.kill()
            first.communicate()
    assert first.returncode == 130 and "Traceback" not in err
    assert "cases are saved in" in err and err.strip().endswith("mcverify: interrupted")
    assert (folder / "manifest.json").is_file() and not (tmp_path / "kill.csv").exists()
