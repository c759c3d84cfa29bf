"""What ``mcverify run`` does once the config is loaded: compute, checkpoint, judge, write.

1. The cases are cut into blocks (:class:`~mcverify.engine.blocks.Layout`) and the
   blocks not yet in the checkpoint go to the workers (local processes or
   a Dask cluster, :mod:`mcverify.engine.parallel`).
2. Each finished block is saved to ``DIR/.<stem>.checkpoint/`` at once
   (:mod:`mcverify.engine.checkpoint`), and the progress bar moves.
3. When all blocks are saved, the Monte Carlo z column of the whole run is
   read back and Holm-adjusted; then block by block, in case order, the
   rows are judged (:func:`mcverify.stats.verdicts.verdict_columns`) and appended to the
   tables (:mod:`mcverify.tables.block_writer`), which are moved into place at
   the end together with the provenance record.
4. The checkpoint is removed (unless asked to keep it).

An interrupted run (Ctrl-C, ``kill -9``, a crash) keeps its checkpoint;
``--resume`` computes only the missing blocks and writes the same table as
an uninterrupted run.  Memory holds a window of blocks and one column of
the whole run, whatever the number of cases.
"""

from __future__ import annotations

import sys
import time
from contextlib import ExitStack, closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mcverify._version import __version__
from mcverify.config.cases import RunSpec
from mcverify.engine.blocks import Layout
from mcverify.engine.case import Methods, Settings
from mcverify.engine.checkpoint import Checkpoint, CheckpointError, Manifest
from mcverify.engine.dask_executor import dask_executor
from mcverify.engine.parallel import BlockTask, default_jobs, map_blocks, ordered_map, run_params, usable_cores
from mcverify.engine.progress import progress_bar
from mcverify.errors import OutputError
from mcverify.stats.verdicts import adjusted_p_values, verdict_columns
from mcverify.tables.block_writer import TableWriter, block_frame, render_block
from mcverify.tables.columns import Columns
from mcverify.tables.result_files import commit_results
from mcverify.tables.schema import RAW_COLUMNS, table_order
from mcverify.tables.writers import column_types, provenance

__all__ = ["RunOptions", "RunProblem", "execute"]


class RunProblem(Exception):
    """Something about the run's inputs or its checkpoint the user must fix (exit 2)."""


@dataclass(frozen=True)
class RunOptions:
    """Command-line choices of ``mcverify run``."""

    output: Path
    formats: list[str]
    jobs: int | None = None
    dask: str | None = None
    resume: bool = False
    restart: bool = False
    keep_checkpoint: bool = False
    quiet: bool = False
    overwrite: bool = False


@dataclass
class RunTally:
    """What the terminal summary reports, gathered block by block."""

    cases: int = 0
    failed: int = 0
    max_z: tuple[float, str] | None = None
    max_rel: tuple[float, str] | None = None
    failures: list[tuple[str, str]] = field(default_factory=list)

    def add(self, block: dict[str, Any]) -> None:
        """Take in the next block of table columns."""
        names = block["name"]
        fail = np.array([v == "fail" for v in block["verdict"]], dtype=bool)
        self.cases += len(names)
        self.failed += int(fail.sum())
        for i in np.flatnonzero(fail)[: 10 - len(self.failures)].tolist():
            self.failures.append((names[i], block["reason"][i]))
        z = np.abs(block["mc_z"])
        if not np.all(np.isnan(z)):
            i = int(np.nanargmax(z))
            if self.max_z is None or z[i] > self.max_z[0]:
                self.max_z = (float(z[i]), names[i])
        rel = np.where(np.isinf(block["rel_err_quad"]), np.nan, block["rel_err_quad"])
        if not np.all(np.isnan(rel)):
            i = int(np.nanargmax(rel))
            if self.max_rel is None or rel[i] > self.max_rel[0]:
                self.max_rel = (float(rel[i]), names[i])

    def merge(self, other: RunTally) -> None:
        """Take in the summary of the next blocks (as if their rows were added here)."""
        self.cases += other.cases
        self.failed += other.failed
        self.failures.extend(other.failures[: 10 - len(self.failures)])
        if other.max_z is not None and (self.max_z is None or other.max_z[0] > self.max_z[0]):
            self.max_z = other.max_z
        if other.max_rel is not None and (self.max_rel is None or other.max_rel[0] > self.max_rel[0]):
            self.max_rel = other.max_rel

    def report(
        self,
        elapsed: float,
        alpha: float,
        written: list[Path],
        resumed: int = 0,
        control: str = "holm",
        method: str = "mc",
    ) -> None:
        n = self.cases
        sampler = "Monte Carlo" if method == "mc" else f"Monte Carlo ({method})"
        level = {
            "holm": f"family-wise alpha {alpha:g}, Holm",
            "bh": f"false discovery rate {alpha:g}, Benjamini-Hochberg",
        }.get(control, f"alpha {alpha:g}, {control}")
        print(
            f"{n} case{'s' * (n != 1)}: {n - self.failed} pass, {self.failed} fail "
            f"({sampler} at {level}) in {elapsed:.1f} s"
        )
        if resumed:
            print(
                f"  resumed: {resumed:,} case{'s' * (resumed != 1)} read from the checkpoint, {n - resumed:,} computed now"
            )
        if self.max_z is not None:
            print(f"  largest |z|: {self.max_z[0]:.2f} ({self.max_z[1]})")
        if self.max_rel is not None:
            print(f"  largest quadrature relative error: {self.max_rel[0]:.2g} ({self.max_rel[1]})")
        for name, reason in self.failures:
            print(f"  FAIL {name}: {reason}")
        if self.failed > 10:
            print(f"  ... and {self.failed - 10} more failures")
        print("wrote " + ", ".join(str(p) for p in written))


def sampling_label(spec: RunSpec) -> str:
    """The checkpoint's record of how a run samples: ``"mc"``, ``"qmc/64"``, ``"mc+k1,k3"``."""
    label = f"qmc/{spec.randomizations}" if spec.method == "qmc" else spec.method
    return label + ("+" + ",".join(spec.estimators) if spec.estimators else "")


def table_block(cols: Columns, verdicts: dict[str, Any], stem: str) -> dict[str, Any]:
    """Table columns of a block: raw columns plus verdicts, in the order of :func:`mcverify.tables.schema.to_frame`."""
    n = len(cols["index"])
    data: dict[str, Any] = {"config": [stem] * n, **cols, **verdicts}
    for name in ("quad_direct_reliable", "k3_finite_variance"):  # optional booleans, stored as int8
        if name in cols:
            data[name] = [None if v < 0 else bool(v) for v in np.asarray(cols[name]).tolist()]
    return {c: data[c] for c in table_order(data)}


@dataclass(frozen=True)
class _Assemble:
    """Judges and formats one saved block; picklable, so blocks are formatted in parallel.

    Formatting a 40-column row with 17-digit numbers costs about as much as
    drawing 3,000 normals, so the table is rendered by all processes and
    written in order by this one.
    """

    directory: str
    stem: str
    alpha: float
    formats: tuple[str, ...]
    keep_block: bool
    control: str = "holm"
    tested: int | None = None

    def __call__(
        self, job: tuple[int, int, int, np.ndarray]
    ) -> tuple[dict[str, Any] | None, int, dict[str, str], RunTally, dict[str, str] | None]:
        b, start, stop, p_adjusted = job
        ckpt = Checkpoint(self.directory)
        cols = ckpt.read(b)
        if len(cols["index"]) != stop - start or (stop > start and int(cols["index"][0]) != start):
            raise CheckpointError(f"{ckpt.directory}: block {b} does not hold cases {start}..{stop - 1}")
        verdicts = verdict_columns(cols, p_adjusted, alpha=self.alpha, control=self.control, tested=self.tested)  # type: ignore[arg-type]  # self.control is RunSpec.error_control: a str the loader checked against ERROR_CONTROLS
        block = table_block(cols, verdicts, self.stem)
        summary = RunTally()
        summary.add(block)
        # Every block has the whole table's dtypes; the first one records them.
        dtypes = column_types(block_frame(block)) if start == 0 else None
        rendered = render_block(block, list(self.formats))
        return (block if self.keep_block else None), stop - start, rendered, summary, dtypes


def _open_checkpoint(
    spec: RunSpec, opts: RunOptions, manifest: Manifest, layout: Layout, columns: list[str]
) -> tuple[Checkpoint, set[int] | None]:
    """The run's checkpoint, locked, and the usable blocks it holds, or None when the run starts afresh.

    The lock is taken before anything is read; on any error here it is
    released again.  Besides the lock, reads only, but for damaged blocks,
    which are removed (one line on stderr each): a fresh checkpoint is
    written once the workers are ready.
    """
    stem = Path(spec.source).stem
    ckpt = Checkpoint(Checkpoint.folder_for(opts.output, stem))
    try:
        ckpt.check_folder()  # before anything reads it, whatever --restart says
        ckpt.lock()  # before anything reads or removes it: one run at a time
    except CheckpointError as exc:
        raise RunProblem(str(exc)) from None
    try:
        return ckpt, _saved_blocks(ckpt, opts, manifest, layout, columns)
    except BaseException:
        ckpt.unlock()
        raise


def _saved_blocks(
    ckpt: Checkpoint, opts: RunOptions, manifest: Manifest, layout: Layout, columns: list[str]
) -> set[int] | None:
    try:
        old = ckpt.manifest()
    except CheckpointError as exc:
        if not opts.restart:
            raise RunProblem(str(exc)) from None
        old = None
    if old is not None and not opts.restart:
        if opts.resume:
            diffs = manifest.differences(old)
            if diffs:
                raise RunProblem(
                    f"{ckpt.directory}: cannot resume: {diffs[0]}; pass --restart to discard the checkpoint"
                )
            ckpt.bind(manifest)
            done = set()
            for b in sorted(ckpt.completed()):
                problem = (
                    ckpt.damage(b, *layout.bounds(b), columns)
                    if b < layout.n_blocks
                    else f"the run has {layout.n_blocks} blocks"
                )
                if problem is None:
                    done.add(b)
                    continue
                ckpt.discard(b)
                if not opts.quiet:
                    print(
                        f"mcverify: {ckpt.directory}: block {b} is damaged ({problem}); computing it again",
                        file=sys.stderr,
                    )
            return done
        done_cases = ckpt.count_cases(ckpt.completed(), old.block_size, old.cases)
        raise RunProblem(
            f"{ckpt.directory} holds an unfinished run ({done_cases:,} of {old.cases:,} cases saved); "
            "pass --resume to continue it or --restart to start over"
        )
    if opts.resume and old is None and not opts.quiet:
        print(f"mcverify: no checkpoint in {ckpt.directory}; starting from the beginning", file=sys.stderr)
    return None


def execute(spec: RunSpec, opts: RunOptions, methods: Methods | None = None) -> int:
    """Run ``spec`` as ``mcverify run`` does; returns the exit code (0 pass, 1 a verdict failed).

    ``methods`` replaces mcverify's own three methods (a formula of one's own
    to verify against Monte Carlo and quadrature); with it every case is
    computed one at a time, and worker processes must be able to import it.

    Raises
    ------
    RunProblem
        For a checkpoint that does not match, or a Dask scheduler that
        cannot be reached.
    KeyboardInterrupt
        On Ctrl-C, after saying how much is saved.
    """
    settings = Settings.from_spec(spec, methods)
    n = len(spec.cases)
    layout = Layout.for_run(n, spec.samples)
    params = run_params(spec)
    manifest = Manifest(
        config=str(spec.source),
        config_hash=spec.config_hash,
        seed=spec.seed,
        samples=spec.samples,
        confidence=spec.confidence,
        quad_rtol=settings.quad_rtol,
        cases=n,
        block_size=layout.block_size,
        mcverify=__version__,
        sampling=sampling_label(spec),
    )
    ckpt, found = _open_checkpoint(spec, opts, manifest, layout, [*RAW_COLUMNS, *params])
    try:
        return _compute_and_write(spec, opts, settings, manifest, layout, params, ckpt, found)
    except KeyboardInterrupt:
        _after_failure(ckpt, layout.block_size, n)  # a checkpoint without cases would block the next run
        raise
    except (OSError, OutputError) as exc:
        saved = _after_failure(ckpt, layout.block_size, n)
        if not saved:
            raise
        what = str(exc) if isinstance(exc, OutputError) else f"{exc.filename}: {exc.strerror or exc}"
        raise OutputError(f"{what}; {saved}") from exc
    except Exception:
        _after_failure(ckpt, layout.block_size, n)
        raise
    finally:
        ckpt.unlock()  # on success, error and Ctrl-C alike


def _after_failure(ckpt: Checkpoint, block_size: int, n: int) -> str:
    """After a failed run: remove a checkpoint that holds no case, or say what a kept one holds.

    A checkpoint without saved cases would only block the next run (which
    would ask for ``--resume`` or ``--restart``); one with cases is worth resuming.
    Returns the words for the error line ("" when nothing is kept).
    """
    try:
        saved = ckpt.count_cases(ckpt.completed(), block_size, n)
        if saved == 0:
            ckpt.remove()
            return ""
    except (OSError, CheckpointError):  # the checkpoint cannot even be read: leave it as it is
        return ""
    return (
        f"{saved:,} of {n:,} cases are saved in {ckpt.directory}; "
        "run the same command with --resume to continue once it can be written"
    )


def _compute_and_write(
    spec: RunSpec,
    opts: RunOptions,
    settings: Settings,
    manifest: Manifest,
    layout: Layout,
    params: dict[str, str],
    ckpt: Checkpoint,
    found: set[int] | None,
) -> int:
    """The body of :func:`execute` once the checkpoint is open and locked."""
    stem = Path(spec.source).stem
    n = len(spec.cases)
    done = found or set()
    resumed = ckpt.count_cases(done, layout.block_size, n)
    todo = [b for b in range(layout.n_blocks) if b not in done]
    task = BlockTask(spec.cases, settings, layout, params)
    if opts.jobs is not None:
        jobs = opts.jobs
    else:  # a Dask cluster gets every core; local runs decide by their size
        jobs = usable_cores() if opts.dask is not None else default_jobs(n, spec.samples)
    saved = resumed
    t0 = time.perf_counter()
    with ExitStack() as stack:
        if opts.dask is not None and todo:
            try:
                workers: Any = stack.enter_context(dask_executor(opts.dask, jobs))
            except (ImportError, OSError) as exc:
                raise RunProblem(f"--dask {opts.dask}: {exc}") from None
        else:
            workers = jobs
        if found is None:  # a fresh run: the checkpoint starts once the workers are ready
            ckpt.start(manifest)
        bar = stack.enter_context(progress_bar(n, initial=resumed, quiet=opts.quiet))
        stream = stack.enter_context(closing(map_blocks(task, todo, workers)))
        try:
            for block, cols in stream:
                ckpt.write(block, cols)
                size = len(cols["index"])
                saved += size
                bar.update(size)
        except KeyboardInterrupt:
            bar.close()
            if saved:  # with none, execute removes the checkpoint: nothing to resume
                print(
                    f"mcverify: {saved:,} of {n:,} cases are saved in {ckpt.directory}; "
                    "run the same command with --resume to continue",
                    file=sys.stderr,
                )
            raise
    elapsed = time.perf_counter() - t0

    # Judge and write, block by block, in case order.
    p_raw = np.concatenate([ckpt.read(b, ["mc_p_value"])["mc_p_value"] for b in range(layout.n_blocks)])
    p_adjusted = adjusted_p_values(p_raw, spec.error_control)  # type: ignore[arg-type]  # RunSpec.error_control: a str the loader checked against ERROR_CONTROLS
    tested = int(np.count_nonzero(~np.isnan(p_raw)))
    summary = RunTally()
    bar = progress_bar(n, quiet=opts.quiet, desc="writing")
    dtypes: dict[str, str] | None = None
    jobs_list = [(b, *layout.bounds(b), p_adjusted[slice(*layout.bounds(b))]) for b in range(layout.n_blocks)]
    writer: TableWriter | None = None
    try:
        writer = TableWriter(opts.output / stem, opts.formats)
        assemble = _Assemble(
            str(ckpt.directory), stem, spec.alpha, tuple(opts.formats), writer.needs_block, spec.error_control, tested
        )
        # Local processes format the table; not after a Dask run, whose client
        # may leave threads behind in this process (no forking then).
        with closing(ordered_map(assemble, jobs_list, 1 if opts.dask else jobs)) as parts:
            for block, rows, rendered, part, types in parts:
                dtypes = types or dtypes
                writer.add(block, rows, rendered)
                summary.merge(part)
                bar.update(rows)
        staged = writer.close_staged()
        procs = 1 if jobs == 1 or len(todo) <= 1 else min(jobs, len(todo))
        record = provenance(
            config=str(spec.source),
            config_hash=spec.config_hash,
            seed=spec.seed,
            samples=spec.samples,
            confidence=spec.confidence,
            alpha=spec.alpha,
            error_control=spec.error_control,
            method=spec.method,
            randomizations=spec.randomizations,
            estimators=list(spec.estimators),
            cases=n,
            seconds=round(elapsed, 3),
            workers=f"dask {opts.dask}" if opts.dask else f"{procs} process{'es' if procs > 1 else ''}",
            resumed_cases=resumed,
            blocks=layout.n_blocks,
            dtypes=dtypes,
        )
        written = commit_results(opts.output, stem, staged, record, overwrite=opts.overwrite)
    except BaseException as exc:
        # Nothing half-published: every temporary file goes, the checkpoint keeps every case.
        if writer is not None:
            writer.abort()
        if isinstance(exc, KeyboardInterrupt):
            bar.close()
            print(
                f"mcverify: all {n:,} cases are saved in {ckpt.directory}; "
                "run the same command with --resume to write the tables",
                file=sys.stderr,
            )
        raise
    finally:
        bar.close()
    if not opts.keep_checkpoint:
        ckpt.remove()
    if not opts.quiet:
        summary.report(elapsed, spec.alpha, written, resumed, spec.error_control, spec.method)
        if written[-1].name != f"{stem}.provenance.json":
            print(f"  (kept the existing {opts.output / stem}.* files; --overwrite replaces them)")
    return 1 if summary.failed else 0
