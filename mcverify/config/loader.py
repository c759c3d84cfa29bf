"""Reading TOML config files into a :class:`~mcverify.config.cases.RunSpec`.

The format::

    [run]                      # every key optional
    samples = 200_000          # Monte Carlo samples per case, 2 .. 1e12 (default 100_000)
    seed = 12345               # root seed, integer >= 0 (default 0)
    confidence = 0.95          # level of the Monte Carlo intervals, in (0, 1) (default 0.95)
    alpha = 0.01               # level of the run's verdicts, in (0, 1) (default 0.01)
    error_control = "holm"     # "holm" (family-wise error rate, default) or "bh" (false discovery rate)
    method = "mc"              # "mc" (default), "antithetic" or "qmc" (randomised quasi-Monte Carlo)
    randomizations = 64        # independent scramblings for method = "qmc", 2 .. 4096 (default 64)
    estimators = []            # also report any of "k1", "k2", "k3" (default none)
    max_cases = 100_000        # refuse configs expanding beyond this (default 100_000)

    [[pair]]                   # a fixed pair
    name = "wide-vs-standard"  # required, unique across pairs and sweeps
    p = { mean = 0.0, std = 2.0 }
    q = { mean = 0.0, std = 1.0 }
    direction = "forward"      # "forward" (default), "reverse" (KL(q||p)) or "both"

    [[sweep]]                  # a family of pairs, see mcverify.config.sweeps
    name = "std-grid"
    p = { mean = 0.0, std = { logspace = [-2, 2, 41] } }
    q = { mean = 0.0, std = 1.0 }
    direction = "both"
    count = 1                  # draws of the random fields (only with random fields)

``p`` and ``q`` take ``mean`` (required) and exactly one of ``std``, ``var``
or ``cov``, as :class:`~mcverify.numerics.gaussian.Gaussian` does.

Case order
    All ``[[pair]]`` entries first, in file order, then all ``[[sweep]]``
    entries in file order (``tomllib`` keeps each array's order but not how
    the two arrays interleave in the file).  A sweep's points follow
    the eager expansion of the tests (``tests/sweep_oracle.py``).  With ``direction = "both"`` each
    forward case is followed by its reverse, named ``name + "/reverse"``
    with ``p`` and ``q`` swapped.

Case names
    A pair's case is named after the pair; a sweep's cases after the sweep,
    with the swept values in brackets: ``"std-grid[p.std=0.01]"``,
    ``"grid[p.std=2, q.mean[2]=0.5]"``, ``"spd[draw=3]"``.  Numbers are
    printed with ``%.6g``, with more digits only where needed to tell two
    values apart.  ``Case.params`` uses the same paths, keyed relative to
    the config entry (a reverse case keeps its forward case's params).

Errors
    Every problem raises :class:`~mcverify.errors.ConfigError` before any case
    is returned.  Field paths count array entries from 1, as one reads the
    file: ``pair[1]`` is the first ``[[pair]]``, ``sweep[2].p.std.logspace``
    a generator, ``pair[3].p.mean[2]`` the second entry of a vector.
"""

from __future__ import annotations

import hashlib
import math
import os
import stat
import tomllib
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from functools import partial
from typing import Any

import numpy as np

from mcverify.config.case_list import CaseList, PairEntry, SweepEntry
from mcverify.config.cases import RunSpec
from mcverify.config.defaults import DEFAULTS, ERROR_CONTROLS
from mcverify.config.sweeps import (
    FIELD_KEYS,
    Field,
    SpecError,
    Sweep,
    clip,
    describe,
    parse_field,
    parse_fixed,
    resolve_dims,
    show_key,
    sweep_dim,
    sweep_size,
    unknown_key,
    validate_sweep,
)
from mcverify.errors import ConfigError
from mcverify.files import file_kind, not_regular, shown_path
from mcverify.numerics.closed_form import kl_divergence
from mcverify.numerics.gaussian import Gaussian
from mcverify.sampling.methods import ESTIMATORS, METHODS, minimum_samples
from mcverify.stats.power import DEFAULT_POWER

__all__ = [
    "DEFAULTS",
    "DEFAULT_MAX_CASES",
    "ERROR_CONTROLS",
    "ESTIMATORS",
    "MAX_CONFIG_BYTES",
    "MAX_PARAMETER_BYTES",
    "MAX_SAMPLES",
    "METHODS",
    "load_config",
    "parse_config",
]

#: Largest number of cases a config may expand to without ``force``, unless
#: ``[run] max_cases`` or the ``max_cases`` argument says otherwise.
DEFAULT_MAX_CASES = 100_000
#: More Monte Carlo samples per case than this is surely a typo.
MAX_SAMPLES = 10**12
#: Largest KL divergence, in a direction a case computes, that mcverify verifies. Every method
#: works in scaled form up to float64's maximum (Monte Carlo accumulates its moments times a
#: power of two, quadrature squares in scaled form); the factor 1.8e8 left below 1.8e308 is
#: headroom for what is a multiple of the KL: the interval's bounds (KL plus quantiles of
#: standard errors of up to 1.4 KL each), the sum of a case's d terms, quad's error sums.
MAX_KL = 1e300
#: Largest KL verified with the k2 estimator among ``[run] estimators``: k2 averages half the
#: squared log ratio (its mean is at least KL^2 / 2), which leaves float64 beyond it.
MAX_KL_K2 = 1e150
#: Largest |mean| / standard deviation of a coordinate: samples and whitened means stay finite.
MAX_STANDARDISED_MEAN = 1e150
#: Largest condition number of a full covariance verified without ``force``: beyond it the
#: Monte Carlo and quadrature checks lose the accuracy the verdicts assume (false alarms).
MAX_CONDITION = 1e8
#: Relative slack on that limit: the computed condition number of a matrix built with cond = 1e8
#: is 1e8 only up to rounding (an SVD's error grows with the condition number).
_COND_SLACK = 1e-3
#: Largest dimension of a swept full covariance without ``force``: validating, factoring and
#: verifying each case is O(d^3) work (a 5,000-d random covariance takes minutes and a gigabyte).
MAX_FULL_DIM = 2_000
#: Largest memory one case of a sweep may take without ``force`` (see ``_point_bytes``).
MAX_PARAMETER_BYTES = 2 * 2**30
#: Largest config file read (a bigger one, or an endless stream, is refused).
MAX_CONFIG_BYTES = 64 << 20
#: Source named in errors about command-line overrides.
COMMAND_LINE = "<command line>"

_TOP_KEYS = ("run", "pair", "sweep")
_RUN_KEYS = (
    "samples",
    "seed",
    "confidence",
    "alpha",
    "error_control",
    "method",
    "randomizations",
    "estimators",
    "max_cases",
)
_PAIR_KEYS = ("name", "p", "q", "direction")
_SWEEP_KEYS = ("name", "p", "q", "direction", "count")
_DIRECTIONS = ("forward", "reverse", "both")


def load_config(
    path: str | os.PathLike[str],
    *,
    samples: int | None = None,
    seed: int | None = None,
    confidence: float | None = None,
    max_cases: int | None = None,
    force: bool = False,
    **overrides: Any,
) -> RunSpec:
    """Read a TOML config file and expand it into a run.

    Parameters
    ----------
    path : str or path-like
        The config file: a regular file (a FIFO, a device or a folder is
        refused before it is opened).  ``RunSpec.source`` is ``str(path)``,
        with any bytes that are not UTF-8 written as ``\\xff``.
    samples, seed, confidence : optional
        Command-line overrides; when given they replace the ``[run]`` values.
    max_cases : int, optional
        Largest number of cases allowed; by default ``[run] max_cases``, or
        100 000 when the file does not say.
    force : bool
        Expand however many cases the config asks for.
    **overrides
        Further command-line overrides of ``[run]`` keys: ``alpha``,
        ``error_control``, ``method``, ``randomizations``, ``estimators``;
        ``None`` leaves the file's value.

    Returns
    -------
    RunSpec
        With ``config_hash`` the SHA-256 hex digest of the file's bytes.

    Raises
    ------
    ConfigError
        If the file cannot be read, is not valid TOML, or describes an
        invalid run (see :func:`parse_config`).
    """
    source = shown_path(path)  # bytes that are not UTF-8 shown as \xff: names every output, prints everywhere
    problem = not_regular(path)  # a FIFO would block, a device may never end: refused before opening
    if problem:
        raise ConfigError(source, "", problem)
    try:
        # O_NONBLOCK: should a FIFO take the file's place after the check, opening it does not block.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
        with open(fd, "rb") as fh:
            mode = os.fstat(fh.fileno()).st_mode
            if not stat.S_ISREG(mode):
                raise ConfigError(source, "", f"not a regular file ({file_kind(mode)})")
            raw = _read_at_most(fh, MAX_CONFIG_BYTES + 1)
    except OSError as exc:
        raise ConfigError(source, "", f"cannot read the config file: {exc.strerror or exc}") from None
    if len(raw) > MAX_CONFIG_BYTES:
        raise ConfigError(source, "", f"larger than {MAX_CONFIG_BYTES >> 20} MiB: not a config file")
    try:
        text = raw.decode("utf-8-sig")  # a byte-order mark is harmless
    except UnicodeDecodeError as exc:
        raise ConfigError(source, "", f"not a UTF-8 text file (bad byte at offset {exc.start})") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(source, "", f"invalid TOML: {_one_line(str(exc))}") from None
    except RecursionError:
        raise ConfigError(source, "", "invalid TOML: arrays or tables nested too deeply") from None
    return parse_config(
        data,
        source,
        hashlib.sha256(raw).hexdigest(),
        samples=samples,
        seed=seed,
        confidence=confidence,
        max_cases=max_cases,
        force=force,
        **overrides,
    )


def parse_config(
    data: Mapping[str, Any],
    source: str,
    config_hash: str,
    *,
    samples: int | None = None,
    seed: int | None = None,
    confidence: float | None = None,
    max_cases: int | None = None,
    force: bool = False,
    **overrides: Any,
) -> RunSpec:
    """Validate parsed TOML and expand it into a run.

    Parameters
    ----------
    data : mapping
        The document, as ``tomllib`` returns it.
    source : str
        Name of the file, used in error messages and ``RunSpec.source``.
    config_hash : str
        Stored as ``RunSpec.config_hash``.
    samples, seed, confidence, max_cases, force, **overrides
        As for :func:`load_config`.

    Raises
    ------
    ConfigError
        On the first problem found; nothing is computed before the whole
        config has been checked.
    """
    return _Parser(source, config_hash).parse(
        data,
        samples=samples,
        seed=seed,
        confidence=confidence,
        max_cases=max_cases,
        force=force,
        overrides=overrides,
    )


# --------------------------------------------------------------- helpers
def _read_at_most(fh: Any, limit: int) -> bytes:
    """Up to ``limit`` bytes, read in 1 MiB pieces (``read(limit)`` would allocate ``limit`` at once)."""
    parts: list[bytes] = []
    size = 0
    while size < limit:
        piece = fh.read(min(1 << 20, limit - size))
        if not piece:
            break
        parts.append(piece)
        size += len(piece)
    return b"".join(parts)


def _point_bytes(sweep: Sweep) -> int:
    """Memory one expanded point of a sweep takes: means and scales of p and q, and their factors.

    Cases are built on demand, one block at a time, so what must fit is a
    point, not the sweep: per side ``d`` numbers for the mean and ``d`` or
    ``d * d`` for the scale, twice over for what the methods derive from
    them (Cholesky factors).
    """
    d = sweep_dim(sweep)
    full = {f.side for f in sweep.fields if f.key == "cov"}
    return 2 * 8 * sum(d + (d * d if side in full else d) for side in ("p", "q"))


def _one_line(message: str) -> str:
    return " ".join(message.split())


class _Parser:
    def __init__(self, source: str, config_hash: str) -> None:
        self.source = source
        self.config_hash = config_hash
        self.force = False  # set by parse: limits that --force lifts
        self.k2 = False  # set by parse: the k2 estimator is asked for (MAX_KL_K2 applies)

    def fail(self, field: str, message: str, source: str | None = None) -> ConfigError:
        return ConfigError(self.source if source is None else source, field, _one_line(message))

    @contextmanager
    def spec_errors(self) -> Iterator[None]:
        try:
            yield
        except SpecError as exc:
            raise self.fail(exc.field, exc.message) from None

    def check_keys(self, table: Mapping[str, Any], allowed: tuple[str, ...], where: str) -> None:
        for key in table:
            if key not in allowed:
                shown = show_key(key)
                raise self.fail(f"{where}.{shown}" if where else shown, unknown_key(key, allowed))

    # -------------------------------------------------------------- run
    def parse(
        self,
        data: Mapping[str, Any],
        *,
        samples: int | None,
        seed: int | None,
        confidence: float | None,
        max_cases: int | None,
        force: bool,
        overrides: Mapping[str, Any] | None = None,
    ) -> RunSpec:
        self.force = force
        self.check_keys(data, _TOP_KEYS, "")
        run = data.get("run", {})
        if not isinstance(run, dict):
            raise self.fail("run", f"expected a table [run], got {describe(run)}")
        self.check_keys(run, _RUN_KEYS, "run")
        run_samples = self.samples(run.get("samples", DEFAULTS["samples"]), "run.samples")
        run_seed = self.seed(run.get("seed", DEFAULTS["seed"]), "run.seed")
        run_confidence = self.level(run.get("confidence", DEFAULTS["confidence"]), "run.confidence")
        run_alpha = self.alpha(run.get("alpha", DEFAULTS["alpha"]), "run.alpha")
        limit = self.count(run.get("max_cases", DEFAULT_MAX_CASES), "run.max_cases")
        if samples is not None:
            run_samples = self.samples(samples, "samples", COMMAND_LINE)
        if seed is not None:
            run_seed = self.seed(seed, "seed", COMMAND_LINE)
        if confidence is not None:
            run_confidence = self.level(confidence, "confidence", COMMAND_LINE)
        if max_cases is not None:
            limit = self.count(max_cases, "max_cases", COMMAND_LINE)
        sampling = self.sampling(run, run_samples, samples is not None, overrides or {})
        self.k2 = "k2" in sampling.get("estimators", ())
        if "alpha" in sampling:
            run_alpha = sampling.pop("alpha")

        pairs = self.entries(data, "pair")
        sweeps = self.entries(data, "sweep")
        if not pairs and not sweeps:
            raise self.fail("", "no [[pair]] or [[sweep]] entries: nothing to verify")

        names: dict[str, str] = {}
        parsed_pairs = [self.pair(entry, f"pair[{i}]", names) for i, entry in enumerate(pairs, 1)]
        parsed_sweeps = [self.sweep(entry, f"sweep[{j}]", names) for j, entry in enumerate(sweeps, 1)]

        sizes = [sweep_size(s) * (2 if d == "both" else 1) for _, _, s, d in parsed_sweeps]
        total = sum(2 if d == "both" else 1 for _, _, _, d in parsed_pairs) + sum(sizes)
        if total > limit and not force:
            if sizes:
                j = int(np.argmax(sizes))
                field = f"sweep[{j + 1}]"
                detail = f"sweep '{parsed_sweeps[j][0]}' expands to {sizes[j]:,} cases"
                if total != sizes[j]:
                    detail += f" ({total:,} in all)"
            else:
                field, detail = "pair", f"the config has {total:,} cases"
            raise self.fail(
                field,
                f"{detail}, more than max_cases = {limit:,}; raise [run] max_cases, "
                "or pass force=True (--force on the command line) to run them anyway",
            )

        memory = [_point_bytes(s) for _, _, s, _ in parsed_sweeps]
        if memory and max(memory) > MAX_PARAMETER_BYTES and not force:
            j = int(np.argmax(memory))
            sweep = parsed_sweeps[j][2]
            raise self.fail(
                f"sweep[{j + 1}]",
                f"sweep '{parsed_sweeps[j][0]}' would hold about {memory[j] / 2**30:,.1f} GiB of parameters "
                f"per case (dimension {sweep_dim(sweep):,}), more than "
                f"{MAX_PARAMETER_BYTES / 2**30:g} GiB; make it smaller, or pass force=True "
                "(--force on the command line) to expand it anyway",
            )

        for name, where, sweep, _ in parsed_sweeps:
            d = sweep_dim(sweep)
            if d > MAX_FULL_DIM and any(f.key == "cov" for f in sweep.fields) and not force:
                raise self.fail(
                    where,
                    f"sweep '{name}' has full covariances of dimension {d:,}, more than {MAX_FULL_DIM:,}: each "
                    "case costs O(d^3) work (minutes at 5,000) before any result; make it smaller, or pass "
                    "force=True (--force on the command line) to run it anyway",
                )

        entries: list[PairEntry | SweepEntry] = [PairEntry(*pair) for pair in parsed_pairs]
        for j, (name, where, sweep, direction) in enumerate(parsed_sweeps):
            with self.spec_errors():
                validate_sweep(sweep, where)
            entries.append(SweepEntry(name, sweep, j, direction, run_seed))
        cases = CaseList(entries)
        # Sweeps stay lazy: check the points that together use every grid
        # value and every random draw (see CaseList.validation_points).
        # Case names are unique by construction: entry names are unique and
        # free of '[', swept values get distinct labels, reverse cases a suffix.
        for e in range(len(parsed_pairs), len(entries)):
            where = parsed_sweeps[e - len(parsed_pairs)][1]
            name = entries[e].name
            for point in cases.validation_points(e):
                values, _, label = cases.point(e, point)
                case_name = f"{name}[{label}]" if label else name
                context = f" (in case '{case_name}')"
                p, q = (self.gaussian(values[side], f"{where}.{side}", context) for side in ("p", "q"))
                self.same_dim(p, q, where, context)
                self.verifiable(p, q, parsed_sweeps[e - len(parsed_pairs)][3], where, context)
        return RunSpec(
            source=self.source,
            config_hash=self.config_hash,
            samples=run_samples,
            seed=run_seed,
            confidence=run_confidence,
            alpha=run_alpha,
            cases=cases,
            **sampling,
        )

    def sampling(
        self, run: Mapping[str, Any], samples: int, samples_overridden: bool, overrides: Mapping[str, Any]
    ) -> dict[str, Any]:
        """``[run]`` keys of the estimators and verdicts, with command-line overrides."""
        unknown = set(overrides) - {"alpha", "error_control", "method", "randomizations", "estimators"}
        if unknown:
            raise TypeError(f"unexpected overrides: {', '.join(sorted(unknown))}")
        out: dict[str, Any] = {}
        checks: dict[str, Callable[[Any, str, str | None], Any]] = {
            "alpha": self.alpha,
            "error_control": partial(self.choice, allowed=ERROR_CONTROLS),
            "method": partial(self.choice, allowed=METHODS),
            "randomizations": self.randomizations,
            "estimators": self.estimators,
        }
        for key, check in checks.items():
            if overrides.get(key) is not None:
                out[key] = check(overrides[key], key, COMMAND_LINE)
            elif key in run:
                out[key] = check(run[key], f"run.{key}", None)
        method = out.get("method", DEFAULTS["method"])
        least = minimum_samples(method, out.get("randomizations", DEFAULTS["randomizations"]))
        if samples < least:
            field, source = ("samples", COMMAND_LINE) if samples_overridden else ("run.samples", None)
            raise self.fail(field, f"method '{method}' needs at least {least} samples, got {samples:,}", source)
        return out

    def choice(self, value: Any, field: str, source: str | None = None, *, allowed: tuple[str, ...]) -> str:
        if not isinstance(value, str):
            raise self.fail(field, f"expected a string, got {describe(value)}", source)
        if value not in allowed:
            raise self.fail(field, f"must be one of {', '.join(repr(a) for a in allowed)}, got {value!r}", source)
        return value

    def randomizations(self, value: Any, field: str, source: str | None = None) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(field, f"expected an integer, got {describe(value)}", source)
        if not 2 <= value <= 4096:
            raise self.fail(field, f"must be between 2 and 4096, got {value}", source)
        return value

    def estimators(self, value: Any, field: str, source: str | None = None) -> tuple[str, ...]:
        if not isinstance(value, (list, tuple)):
            raise self.fail(field, f'expected a list such as ["k1", "k2", "k3"], got {describe(value)}', source)
        names = []
        for i, name in enumerate(value, 1):
            names.append(self.choice(name, f"{field}[{i}]", source, allowed=ESTIMATORS))
        if len(set(names)) != len(names):
            raise self.fail(field, f"lists an estimator twice: {names}", source)
        return tuple(e for e in ESTIMATORS if e in names)

    # ----------------------------------------------------------- values
    def samples(self, value: Any, field: str, source: str | None = None) -> int:
        if isinstance(value, float) and math.isfinite(value) and value.is_integer():
            value = int(value)  # 1e6 is written as a float in TOML
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(field, f"expected an integer, got {describe(value)}", source)
        if not 2 <= value <= MAX_SAMPLES:
            raise self.fail(field, f"must be between 2 and {MAX_SAMPLES:.0e}, got {clip(f'{value:,}')}", source)
        return value

    def seed(self, value: Any, field: str, source: str | None = None) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(field, f"expected an integer, got {describe(value)}", source)
        if value < 0:
            raise self.fail(field, f"must be >= 0, got {clip(str(value))}", source)
        return value

    def count(self, value: Any, field: str, source: str | None = None) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(field, f"expected an integer, got {describe(value)}", source)
        if value < 1:
            raise self.fail(field, f"must be >= 1, got {clip(str(value))}", source)
        return value

    def level(self, value: Any, field: str, source: str | None = None) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.fail(field, f"expected a number, got {describe(value)}", source)
        x = float(value)
        if not 0.0 < x < 1.0:  # also refuses nan
            raise self.fail(field, f"must be strictly between 0 and 1, got {value!r}", source)
        return x

    def alpha(self, value: Any, field: str, source: str | None = None) -> float:
        """A verdict level: in (0, 1), and below the power at which the detectable error is stated.

        With one case tested, the per-case level is ``alpha`` itself, and a test at
        level ``alpha`` detects nothing with probability :data:`~mcverify.stats.power.DEFAULT_POWER`
        unless ``alpha`` is below it (:func:`mcverify.stats.power.detection_multiplier`).
        """
        x = self.level(value, field, source)
        if x >= DEFAULT_POWER:
            raise self.fail(
                field,
                f"must be below {DEFAULT_POWER:g} (the power at which mcverify states the error a test "
                f"detects), got {value!r}; verdict levels are usually 0.01 or 0.05",
                source,
            )
        return x

    # ---------------------------------------------------------- entries
    def entries(self, data: Mapping[str, Any], key: str) -> list[dict[str, Any]]:
        value = data.get(key, [])
        if isinstance(value, dict):
            raise self.fail(key, f"expected an array of tables [[{key}]], got a single table [{key}]")
        if not isinstance(value, list):
            raise self.fail(key, f"expected an array of tables [[{key}]], got {describe(value)}")
        for i, entry in enumerate(value, 1):
            if not isinstance(entry, dict):
                raise self.fail(f"{key}[{i}]", f"expected a table, got {describe(entry)}")
        return value

    def name(self, entry: Mapping[str, Any], where: str, names: dict[str, str]) -> str:
        if "name" not in entry:
            raise self.fail(where, "missing required key 'name'")
        name = entry["name"]
        field = f"{where}.name"
        if not isinstance(name, str):
            raise self.fail(field, f"expected a string, got {describe(name)}")
        if not name.strip():
            raise self.fail(field, "must not be empty")
        if any(c in name for c in "[]") or not name.isprintable():
            raise self.fail(
                field, f"must be printable and free of '[' and ']' (they delimit swept values), got {clip(repr(name))}"
            )
        if name.endswith("/reverse"):
            raise self.fail(field, f"must not end in '/reverse' (the suffix of reverse cases), got {clip(repr(name))}")
        if name in names:
            raise self.fail(field, f"duplicate name '{clip(name)}' (already used by {names[name]})")
        names[name] = where
        return name

    def direction(self, entry: Mapping[str, Any], where: str) -> str:
        value = entry.get("direction", "forward")
        if not isinstance(value, str):
            raise self.fail(f"{where}.direction", f"expected a string, got {describe(value)}")
        if value not in _DIRECTIONS:
            raise self.fail(
                f"{where}.direction",
                f'must be "forward", "reverse" or "both", got {clip(repr(value))}',
            )
        return value

    def distribution(self, entry: Mapping[str, Any], side: str, where: str) -> dict[str, Any]:
        if side not in entry:
            raise self.fail(where, f"missing required key '{side}'")
        table = entry[side]
        w = f"{where}.{side}"
        if not isinstance(table, dict):
            raise self.fail(w, f"expected a table like {{ mean = 0.0, std = 1.0 }}, got {describe(table)}")
        self.check_keys(table, FIELD_KEYS, w)
        if "mean" not in table:
            raise self.fail(w, "missing required key 'mean'")
        scales = [k for k in ("std", "var", "cov") if k in table]
        if len(scales) != 1:
            raise self.fail(
                w,
                "needs one of std, var or cov"
                if not scales
                else f"give exactly one of std, var or cov, got {' and '.join(scales)}",
            )
        return table

    def gaussian(self, values: Mapping[str, Any], where: str, context: str = "") -> Gaussian:
        try:
            return Gaussian(**values)
        except ValueError as exc:
            message = str(exc)
            first = message.split(" ", 1)[0]
            field = f"{where}.{first}" if first in values else where
            raise self.fail(field, message + context) from None

    def verifiable(self, p: Gaussian, q: Gaussian, direction: str, where: str, context: str = "") -> None:
        """Refuse a pair whose terms leave float64 or whose covariance is beyond the methods' accuracy.

        Limits: |mean| / std of every coordinate at most :data:`MAX_STANDARDISED_MEAN`;
        the KL in each direction the case computes finite and at most :data:`MAX_KL`
        (:data:`MAX_KL_K2` when the k2 estimator is asked for; computed by the closed
        form, with the factorisation every method uses);
        without ``force``, full covariances of condition number at most :data:`MAX_CONDITION`.
        """
        for side, g in (("p", p), ("q", q)):
            with np.errstate(all="ignore"):
                z = float(np.max(np.abs(g.mean) / g.stddevs))
            if not z <= MAX_STANDARDISED_MEAN:
                raise self.fail(
                    f"{where}.{side}.mean",
                    f"|mean| / std = {z:.3g} is beyond {MAX_STANDARDISED_MEAN:.0e}, where the methods' terms leave "
                    f"float64; shift or rescale the pair{context}",
                )
            if g.kind == "full" and not self.force:
                with np.errstate(all="ignore"):
                    cond = float(np.linalg.cond(g.covariance))
                if not cond <= MAX_CONDITION * (1.0 + _COND_SLACK):
                    raise self.fail(
                        f"{where}.{side}.cov",
                        f"condition number {cond:.3g} is beyond {MAX_CONDITION:.0e}, where Monte Carlo and "
                        f"quadrature cannot verify the closed form (--force runs it anyway){context}",
                    )
        pairs = {"forward": [("KL(p || q)", p, q)], "reverse": [("KL(q || p)", q, p)]}
        for label, a, b in pairs.get(direction, pairs["forward"] + pairs["reverse"]):
            try:
                with np.errstate(all="ignore"):
                    kl = kl_divergence(a, b)
            except (ArithmeticError, ValueError, np.linalg.LinAlgError):
                kl = math.inf
            limit = MAX_KL_K2 if self.k2 else MAX_KL
            if not kl <= limit:
                why = (
                    "where the k2 estimator (half the squared log ratio) leaves float64; "
                    "drop k2 from the estimators or bring p and q closer"
                    if self.k2
                    else "the largest KL mcverify verifies (float64 ends at 1.8e+308); bring p and q closer"
                )
                raise self.fail(where, f"{label} = {kl:.3g} is beyond {limit:.0e}, {why}{context}")

    def same_dim(self, p: Gaussian, q: Gaussian, where: str, context: str = "") -> None:
        if p.dim != q.dim:
            raise self.fail(
                where, f"mismatched dimensions: p has dimension {p.dim} but q has dimension {q.dim}{context}"
            )

    def pair(self, entry: Mapping[str, Any], where: str, names: dict[str, str]) -> tuple[str, Gaussian, Gaussian, str]:
        self.check_keys(entry, _PAIR_KEYS, where)
        name = self.name(entry, where, names)
        direction = self.direction(entry, where)
        dists = []
        for side in ("p", "q"):
            table = self.distribution(entry, side, where)
            with self.spec_errors():
                values = {k: parse_fixed(k, v, f"{where}.{side}.{k}") for k, v in table.items()}
            dists.append(self.gaussian(values, f"{where}.{side}"))
        p, q = dists
        self.same_dim(p, q, where)
        self.verifiable(p, q, direction, where)
        return name, p, q, direction

    def sweep(self, entry: Mapping[str, Any], where: str, names: dict[str, str]) -> tuple[str, str, Sweep, str]:
        self.check_keys(entry, _SWEEP_KEYS, where)
        name = self.name(entry, where, names)
        direction = self.direction(entry, where)
        fields: list[Field] = []
        for side in ("p", "q"):
            table = self.distribution(entry, side, where)
            with self.spec_errors():
                fields.extend(parse_field(side, k, v, f"{where}.{side}.{k}") for k, v in table.items())
        count = 1
        if "count" in entry:
            count = self.count(entry["count"], f"{where}.count")
        sweep = Sweep(tuple(fields), count)
        if "count" in entry and not sweep.has_random:
            raise self.fail(
                f"{where}.count", "count sets the number of random draws, but this sweep has no random field"
            )
        with self.spec_errors():
            sweep = resolve_dims(sweep, where)
        return name, where, sweep, direction
