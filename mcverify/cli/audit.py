"""``mcverify audit``: audit a KL function from a file, a module or an expression."""

from __future__ import annotations

import argparse
import ast
import importlib
import importlib.util
import inspect
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from mcverify.auditing.registry import (
    BACKENDS,
    BATCH_TIMEOUTS,
    CONVENTIONS,
    DEFAULT_SAMPLES,
    DEFAULT_SEED,
    DEFAULT_TIMEOUT,
    DTYPES,
    OBJECT_CONVENTIONS,
)
from mcverify.cli.options import (
    EXIT_FAIL,
    EXIT_PASS,
    UsageError,
    add_common_options,
    first_line,
    nonnegative_int,
    one_line,
    seconds,
)
from mcverify.cli.terminal import interrupts_exit
from mcverify.errors import AuditError
from mcverify.files import not_regular, shown_path
from mcverify.tables.atomic import check_target, check_writable, clean_stale, write_new

if TYPE_CHECKING:
    from mcverify.auditing.report import AuditReport
    from mcverify.auditing.sandbox import CandidateOutput

__all__ = ["add_audit_command"]

#: Imported before the target's folder joins ``sys.path``, so that files of these names beside it cannot shadow them.
_PRELOADED = ("numpy", "scipy", "scipy.linalg", "scipy.optimize", "scipy.special", "scipy.stats", "pandas")


def add_audit_command(sub: argparse._SubParsersAction) -> None:
    audit = sub.add_parser(
        "audit",
        help="audit your own KL function: verdict, failing region, diagnosis, evidence",
        description=(
            "Evaluate a KL implementation on probe pairs, compare it with the true KL within "
            "floating-point tolerance, and report where it goes wrong, which classic mistake it "
            "matches, and Monte Carlo evidence. Exit 0 when it passes, 1 when it fails, 2 on bad input."
        ),
    )
    audit.add_argument(
        "target",
        nargs="?",
        help="the function: path/to/file.py:function, package.module:function or file.py:Class.method",
    )
    audit.add_argument(
        "--convention",
        "-c",
        required=True,
        choices=[*CONVENTIONS, *OBJECT_CONVENTIONS],
        metavar="C",
        help="calling convention: "
        + ", ".join(CONVENTIONS)
        + "; or "
        + ", ".join(OBJECT_CONVENTIONS)
        + " (the function receives the backend's distribution objects)",
    )
    audit.add_argument(
        "--expr",
        help='a formula as text instead of TARGET, e.g. "0.5*(std**2 + mean**2 - 1 - log(std**2))" (default: none)',
    )
    audit.add_argument(
        "--call",
        metavar="TEMPLATE",
        help=(
            "how to call code that fits no convention: a Python expression over the convention's "
            "arguments, the names of TARGET's module and zeros/ones/empty, "
            'e.g. "loss_function(empty(0, 784), empty(0, 784), mean, logvar)" or "VAE().kl(mean, logvar)"; '
            "TARGET may then be just FILE.py (default: none: the convention's own call)"
        ),
    )
    audit.add_argument(
        "--backend", default="numpy", choices=list(BACKENDS), help="array type the function receives (default: numpy)"
    )
    audit.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    add_common_options(
        audit,
        output="also write the report: JSON for .json, the probe table for .csv, text otherwise "
        "(default: print it only)",
        metavar="FILE",
        quiet="print nothing but errors: the exit status and -o FILE tell the verdict",
    )
    audit.add_argument(
        "--overwrite",
        action="store_true",
        help="replace FILE if it exists (default: write beside it as <stem>-2<suffix>, ...)",
    )
    audit.add_argument(
        "--samples",
        type=nonnegative_int,
        default=DEFAULT_SAMPLES,
        help=f"Monte Carlo draws per evidence point, 0 for none (default: {DEFAULT_SAMPLES})",
    )
    audit.add_argument(
        "--seed",
        type=nonnegative_int,
        default=DEFAULT_SEED,
        help=f"root seed of the evidence (default: {DEFAULT_SEED})",
    )
    audit.add_argument(
        "--timeout",
        type=seconds,
        default=DEFAULT_TIMEOUT,
        metavar="SECONDS",
        help=(
            f"time each call of the function may take (a batched call: {BATCH_TIMEOUTS} times), "
            f"0 for no limit (default: {DEFAULT_TIMEOUT:g})"
        ),
    )
    audit.add_argument(
        "--domain",
        action="append",
        metavar="NAME=LO..HI",
        help=(
            "restrict or widen the probed domain, e.g. logvar=-30..20 or std=1e-3..1e3,mean=-10..10 "
            "(repeatable; names: mean, std, var, logvar, logstd, or one of them with _p or _q) "
            "(default: the convention's whole probe set, stated in the report)"
        ),
    )
    # -- what training sees: gradients and the training dtype (mcverify.auditing.gradients, .precision)
    audit.add_argument(
        "--no-gradients",
        dest="gradients",
        action="store_false",
        help="skip the gradient audit (checked by default when the backend differentiates: torch, jax, tensorflow)",
    )
    audit.add_argument(
        "--dtype",
        default="float64",
        choices=list(DTYPES),
        help="also hand the function inputs of this training dtype and judge its results at that precision; "
        "float64 is the value audit alone (default: float64)",
    )
    audit.set_defaults(handler=_cmd_audit)


def _cmd_audit(args: argparse.Namespace) -> int:
    with interrupts_exit():  # nothing is written yet: Ctrl-C while importing exits 130 at once
        from mcverify.auditing.auditor import audit, with_candidate_output
        from mcverify.auditing.autodiff import check_dtype
        from mcverify.auditing.backends import BackendUnavailable, get_backend
        from mcverify.auditing.expressions import ExprError, compile_expr
        from mcverify.auditing.sandbox import CandidateEnded, CandidateOutput, in_child
        from mcverify.auditing.templates import TemplateError, compile_template, parse_template
        from mcverify.config.loader import MAX_SAMPLES

    if (args.target is None) == (args.expr is None):
        raise UsageError("audit: give either TARGET (path/to/file.py:function or package.module:function) or --expr")
    if args.samples == 1:
        raise UsageError("audit: --samples must be 0 (no evidence) or at least 2")

    if args.samples > MAX_SAMPLES:
        raise UsageError(f"audit: --samples must be at most {MAX_SAMPLES:.0e}, got {args.samples:,}")
    out = Path(args.output) if args.output else None
    if out is not None and not out.parent.is_dir():
        raise UsageError(f"{out}: the folder {out.parent} does not exist")
    if out is not None and out.is_dir():
        raise UsageError(f"{out}: is a folder; -o takes a file name")
    if out is not None:
        if not os.access(out.parent, os.W_OK | os.X_OK):
            raise UsageError(f"{out}: the folder {out.parent} is not writable")
        check_target(out, 0 if args.overwrite else 4)  # the name fits, nothing but a file in the way
        check_writable(out.parent)
        clean_stale(out.parent)  # temporary files of killed runs
    domain = _domain(args.domain, args.convention)
    compiled: Callable[..., object] | None = None  # an --expr, compiled once here (the child inherits it)
    template: ast.Expression | None = None  # a --call, parsed once here; its names are checked after the import
    if args.call is not None:
        if args.expr is not None:
            raise UsageError("audit: --call calls TARGET's code; --expr is a formula on its own: give one of them")
        try:
            template = parse_template(args.call)
        except TemplateError as exc:
            raise UsageError(f"--call: {exc}") from None
    if args.expr is not None:
        if args.backend != "numpy":
            raise UsageError("audit: --expr is evaluated with numpy; --backend does not apply")
        if args.convention in OBJECT_CONVENTIONS:
            raise UsageError(f"audit: --expr takes numbers; {args.convention} hands the function distribution objects")
        try:
            compiled = compile_expr(args.expr, args.convention)  # refused here, before any process starts
        except ExprError as exc:
            raise UsageError(f"--expr: {exc}") from None
        name = f"expr {args.expr.strip()!r}"
    elif template is not None:
        name = f"{shown_path(args.target)} called as {args.call.strip()}"
    else:
        name = shown_path(args.target)  # bytes that are not UTF-8 as \xff: the report prints and encodes

    def job(mark: Callable[[str], None]) -> AuditReport:
        try:
            get_backend(args.backend)  # torch or jax imported before the target's folder joins sys.path
            check_dtype(args.dtype, args.backend)
        except BackendUnavailable as exc:
            raise UsageError(f"audit: {exc}") from None
        mark("import")
        shown = name
        if compiled is not None:
            func: Callable[..., Any] = compiled
        elif template is not None:
            namespace, what = _load_namespace(args.target)
            try:
                func = compile_template(template, args.convention, namespace, get_backend(args.backend), where=what)
            except TemplateError as exc:
                raise UsageError(f"--call: {exc}") from None
        else:
            func, built = _load_target(args.target, args.convention)
            shown = f"{name} ({built})" if built else name
        mark("audit")
        try:
            return audit(
                func,
                args.convention,
                backend=args.backend,
                samples=args.samples,
                seed=args.seed,
                name=shown,
                timeout=args.timeout or None,
                domain=domain,
                gradients=args.gradients,
                dtype=args.dtype,
            )
        except (AuditError, BackendUnavailable) as exc:
            raise UsageError(f"audit: {exc}") from None

    # The candidate is imported and called in a child process: whatever it does to
    # that process (os._exit, a crash, patching mcverify), this one reports. What it
    # writes to stdout and stderr (descriptors 1 and 2) is captured, never shown as
    # written: the report summarises it (--json: under "output"), and an error
    # line is followed by its last lines (text only: --json keeps the terminal clean).
    outputs: list[CandidateOutput] = []
    try:
        report = in_child(job, on_output=outputs.append)
    except CandidateEnded as exc:
        output = outputs[0] if outputs else CandidateOutput()
        if exc.phase in ("", "import"):
            raise UsageError(
                f"{name}: importing it ended the process ({exc.how}); no audit was made",
                _last_output(output, args.json),
            ) from None
        problem = f"the candidate ended the audit's process ({exc.how}) before the audit finished"
        if args.json and not args.quiet:
            print(
                json.dumps(
                    {
                        "name": name,
                        "convention": args.convention,
                        "backend": args.backend,
                        "verdict": "fail",
                        "problems": [problem],
                        "output": output.as_dict(),
                    },
                    indent=2,
                )
            )
        print(f"mcverify: audit: FAIL: {name}: {problem}", file=sys.stderr)
        for line in _last_output(output, args.json):
            print("  " + one_line(line), file=sys.stderr)
        return EXIT_FAIL
    except UsageError as exc:
        if outputs and outputs[0] and not exc.follow_up:
            raise UsageError(str(exc), _last_output(outputs[0], args.json)) from None
        raise
    report = with_candidate_output(report, outputs[0] if outputs else CandidateOutput())
    if out is not None:  # the file first: a reader that stops early (`| head`) never costs it
        written = _write_report(report, out, args.overwrite)
        if written != out:
            print(f"mcverify: {out} exists: wrote {written} (--overwrite replaces it)", file=sys.stderr)
    if args.json and not args.quiet:
        print(json.dumps(report.as_dict(), indent=2, allow_nan=False))
    elif not args.quiet:
        print(report.summary())
    return EXIT_PASS if report.passed else EXIT_FAIL


def _domain(texts: list[str] | None, convention: str) -> dict[str, tuple[float, float]] | None:
    """``--domain`` as the API's mapping, checked against the convention before any process starts."""
    with interrupts_exit():  # nothing is written yet: Ctrl-C while importing exits 130 at once
        from mcverify.auditing.domain import parse_domain, probes_within

    if not texts:
        return None
    try:
        bounds = parse_domain(texts)
        probes_within(convention, bounds)
    except ValueError as exc:
        raise UsageError(f"--domain: {exc}") from None
    return {b.name: (b.lo, b.hi) for b in bounds}


#: Lines of the candidate's last output shown under an error line.
LAST_LINES = 10


def _last_output(output: CandidateOutput, json_mode: bool) -> list[str]:
    """The lines under an error line: what the candidate wrote last, or with ``--json`` only how much."""
    if not output:
        return []
    if json_mode:
        return [f"the candidate wrote {output.describe()} to stdout/stderr (not shown with --json)"]
    last = output.last_lines(LAST_LINES)
    head = f"the candidate wrote {output.describe()} to stdout/stderr"
    head += f"; the last {len(last)}:" if len(last) < output.lines else ":"
    return [head] + ["| " + (line if len(line) <= 200 else line[:197] + "...") for line in last]


def _write_report(report: AuditReport, out: Path, overwrite: bool = False) -> Path:
    """Write the report atomically to ``out``, or beside it when it exists; return where it went."""

    if out.suffix.lower() == ".json":
        text = json.dumps(report.as_dict(table=True), indent=2, allow_nan=False) + "\n"
    elif out.suffix.lower() == ".csv":
        text = report.table.to_csv(index=False)
    else:
        text = report.summary() + "\n"
    try:
        return write_new(out, text, overwrite=overwrite)
    except OSError as exc:
        raise UsageError(f"{out}: cannot write the report ({exc.strerror})") from None


def _load_target(target: str, convention: str) -> tuple[Callable[..., Any], str]:
    """The callable named by ``path/to/file.py:function`` or ``package.module:function``, and how it was built.

    ``FILE.py:Class.method`` names a method: the class is built with no
    arguments and its method called on that instance (the second value says
    so); a class that needs arguments is refused with a message that shows
    the ``--call`` that builds it.
    """
    where, sep, attr = target.rpartition(":")
    if not sep or not where or not attr:
        raise UsageError(f"{target!r}: TARGET must be path/to/file.py:function or package.module:function")
    module, what = _load_module(where)
    parent: Any = None
    obj: Any = module
    for part in attr.split("."):
        parent = obj
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise UsageError(f"{what} has no function {attr!r}") from None
    if not callable(obj):
        raise UsageError(f"{what}: {attr!r} is not callable (it is {type(obj).__name__})")
    method = attr.rpartition(".")[2]
    if isinstance(parent, type) and inspect.isfunction(inspect.getattr_static(parent, method, None)):
        args = ", ".join(CONVENTIONS[convention].params)
        hint = f'--call "{parent.__name__}(...).{method}({args})"'
        try:
            instance = parent()
        except Exception as exc:
            raise UsageError(
                f"{what}: {attr!r} is a method, and building {parent.__name__}() with no arguments raised "
                f"{type(exc).__name__}: {first_line(exc)}; build it yourself with {hint}"
            ) from None
        return getattr(instance, method), f"on {parent.__name__}(), built with no arguments"
    return obj, ""


def _load_namespace(target: str) -> tuple[dict[str, Any], str]:
    """The names of the module of ``FILE.py``, ``FILE.py:NAME`` or ``package.module[:NAME]``, for ``--call``."""
    where, sep, attr = target.rpartition(":")
    if not sep:
        where, attr = target, ""
    if not where:
        raise UsageError(f"{target!r}: TARGET must be path/to/file.py[:NAME] or package.module[:NAME]")
    module, what = _load_module(where)
    if attr and not hasattr(module, attr.split(".")[0]):
        raise UsageError(f"{what} has no name {attr.split('.')[0]!r}")
    return dict(vars(module)), what


def _load_module(where: str) -> tuple[ModuleType, str]:
    """Import ``path/to/file.py`` or ``package.module``; return it and how messages name it.

    The libraries mcverify needs are imported first, and the target's folder
    (or the working folder, for a module) goes at the end of ``sys.path``:
    a ``pandas.py`` beside the target never replaces pandas, while the
    modules beside it that it imports still import.
    """
    for library in _PRELOADED:  # the real ones, before a numpy.py or pandas.py beside the target can shadow them
        importlib.import_module(library)
    if where.endswith(".py") or "/" in where or os.sep in where:
        path = Path(where)
        problem = not_regular(path)  # before opening: a FIFO would block the import
        if problem:
            raise UsageError(f"{shown_path(where)}: {problem}")
        if not path.is_file():
            raise UsageError(f"{shown_path(where)}: no such file")
        folder = str(path.resolve().parent)
        if folder not in sys.path:
            sys.path.append(folder)  # last: the target's own modules import, installed libraries win
        spec = importlib.util.spec_from_file_location(f"_mcverify_target_{path.stem}", path)
        if spec is None or spec.loader is None:
            raise UsageError(f"{where}: cannot load it as Python")
        module = importlib.util.module_from_spec(spec)
        try:
            spec.loader.exec_module(module)
        except SystemExit as exc:
            raise UsageError(f"{where}: importing it called sys.exit({exc.code!r}); no audit was made") from None
        except Exception as exc:
            raise UsageError(f"{where}: importing it raised {type(exc).__name__}: {first_line(exc)}") from None
        return module, where
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.append(os.getcwd())
    try:
        module = _import_module_or_attribute(where)
    except ImportError as exc:
        raise UsageError(f"cannot import {where!r}: {first_line(exc)}") from None
    except SystemExit as exc:
        raise UsageError(f"{where}: importing it called sys.exit({exc.code!r}); no audit was made") from None
    except Exception as exc:
        raise UsageError(f"{where}: importing it raised {type(exc).__name__}: {first_line(exc)}") from None
    return module, f"module {where}"


def _import_module_or_attribute(where: str) -> Any:
    """``importlib.import_module(where)``, or, when that module does not exist, an attribute of its package.

    ``tensorflow_probability.distributions`` is an attribute that TensorFlow
    Probability loads lazily, not a module that ``import_module`` finds.
    """
    try:
        return importlib.import_module(where)
    except ModuleNotFoundError as exc:
        package, _, attr = where.rpartition(".")
        if not package or exc.name != where:
            raise
        parent = _import_module_or_attribute(package)
        try:
            return getattr(parent, attr)
        except AttributeError:
            raise exc from None
