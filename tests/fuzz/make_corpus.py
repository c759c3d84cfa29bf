"""Generate the fuzz corpus of malformed configs in ``tests/fuzz/configs/``.

Each file is one systematic mutation of a shipped config
(``configs/example.toml``, ``classic-std.toml``, ``extreme.toml``) or of
its text, and starts with a comment line saying what is wrong::

    # run.samples: samples = nan (expect "between 2 and")

that is: the key path the error must name (``<file>`` when the problem is
the file as a whole, e.g. invalid TOML), what the mutation did, and a piece
of text the one-line error must contain.  ``tests/config/test_fuzz_corpus.py``
runs every file through ``mcverify run`` and checks exit code 2, one line
on stderr naming the file and that key path, and nothing written.

The expectations come from the mutation itself, never from running
mcverify; ``tomllib`` and numpy are used only to make sure a text mutation
really breaks the TOML and a matrix mutation really is indefinite.

Usage::

    python tests/fuzz/make_corpus.py          # (re)write the corpus
    python tests/fuzz/make_corpus.py --check  # exit 1 if the stored corpus is stale
"""

from __future__ import annotations

import argparse
import copy
import datetime as dt
import re
import sys
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.fuzz.tomlw import Raw, dumps  # noqa: E402

CONFIGS = ROOT / "configs"
CORPUS = Path(__file__).resolve().parent / "configs"
WHOLE_FILE = "<file>"
HEADER = re.compile(r'^# (?P<field>.+?): (?P<what>.*) \(expect "(?P<match>.*)"\)$')

Path_ = tuple[Any, ...]


@dataclass(frozen=True)
class Mutant:
    """One malformed config: file name, content and what its error must say."""

    name: str
    field: str  # key path the error names; WHOLE_FILE for file-level problems
    what: str
    match: str
    body: bytes

    def content(self) -> bytes:
        return f'# {self.field}: {self.what} (expect "{self.match}")\n'.encode() + self.body


def parse_header(first_line: str) -> tuple[str, str, str]:
    """``(field, what, match)`` from a corpus file's first line; field ``""`` for the whole file."""
    m = HEADER.match(first_line.rstrip("\n"))
    if m is None:
        raise ValueError(f"not a corpus header: {first_line!r}")
    field = m["field"]
    return ("" if field == WHOLE_FILE else field), m["what"], m["match"]


# ---------------------------------------------------------------- helpers
def show(path: Path_) -> str:
    """``("pair", 0, "p", "cov", 1, 0)`` -> ``"pair[1].p.cov[2][1]"`` (entries from 1)."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part + 1}]"
        else:
            out += ("." if out else "") + part
    return out


def get(data: Any, path: Path_) -> Any:
    for part in path:
        data = data[part]
    return data


def setp(data: dict[str, Any], path: Path_, value: Any) -> dict[str, Any]:
    data = copy.deepcopy(data)
    get(data, path[:-1])[path[-1]] = value
    return data


def delp(data: dict[str, Any], path: Path_) -> dict[str, Any]:
    data = copy.deepcopy(data)
    del get(data, path[:-1])[path[-1]]
    return data


def rename(data: dict[str, Any], path: Path_, new: str) -> dict[str, Any]:
    """Rename the key at ``path``, keeping its position."""
    data = copy.deepcopy(data)
    parent = get(data, path[:-1])
    items = [(new if k == path[-1] else k, v) for k, v in parent.items()]
    parent.clear()
    parent.update(items)
    return data


def leaves(table: Any, path: Path_) -> Iterator[Path_]:
    """Paths of the numbers inside a value (scalars, vector entries, matrix entries)."""
    if isinstance(table, list):
        for i, x in enumerate(table):
            yield from leaves(x, (*path, i))
    elif isinstance(table, (int, float)) and not isinstance(table, bool):
        yield path


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:60]


def load(name: str) -> tuple[dict[str, Any], str]:
    text = (CONFIGS / name).read_text(encoding="utf-8")
    return tomllib.loads(text), text


# --------------------------------------------------------------- builder
class Corpus:
    def __init__(self) -> None:
        self.mutants: dict[str, Mutant] = {}

    def add(
        self,
        base: str,
        tag: str,
        data: dict[str, Any] | None,
        field: str,
        what: str,
        match: str,
        *,
        text: str | bytes | None = None,
    ) -> None:
        if text is None:
            assert data is not None
            text = dumps(data)
            tomllib.loads(text)  # a semantic mutant must still be valid TOML
        body = text.encode("utf-8") if isinstance(text, str) else text
        name = f"{base}-{slug(tag)}"
        n, unique = 2, name
        while unique in self.mutants:
            unique, n = f"{name}-{n}", n + 1
        assert "\n" not in what and "\n" not in match, (what, match)
        self.mutants[unique] = Mutant(unique, field or WHOLE_FILE, what, match, body)

    def syntax(self, base: str, tag: str, text: str | bytes, what: str, match: str = "invalid TOML") -> None:
        """A text mutation; only kept when it really is invalid TOML (or UTF-8)."""
        try:
            tomllib.loads(text.decode("utf-8") if isinstance(text, bytes) else text)
        except (tomllib.TOMLDecodeError, UnicodeDecodeError, RecursionError):
            self.add(base, tag, None, "", what, match, text=text)
        else:
            raise AssertionError(f"text mutation {tag!r} is still valid TOML")


# Invalid values by the kind of key they replace: (tag, value, expected message text).
NOT_A_NUMBER = [
    ("string", "abc", "expected a number, got string 'abc'"),
    ("bool", True, "expected a number, got boolean true"),
    ("date", dt.date(1979, 5, 27), "got date/time 1979-05-27"),
]
NON_FINITE = [
    ("nan", float("nan"), "must be finite"),
    ("inf", float("inf"), "must be finite"),
    ("minus-inf", float("-inf"), "must be finite"),
]
NON_POSITIVE = [
    ("zero", 0.0, "must be positive, got 0.0"),
    ("negative", -1.0, "must be positive, got -1.0"),
    ("tiny-negative", -1e-300, "must be positive, got -1e-300"),
]
INT_RUN = {
    "samples": [
        ("string", "many", "expected an integer, got string 'many'"),
        ("bool", True, "expected an integer"),
        ("array", [1000], "expected an integer, got an array"),
        ("table", {"n": 1}, "expected an integer, got a table"),
        ("nan", float("nan"), "expected an integer, got number nan"),
        ("inf", float("inf"), "expected an integer"),
        ("minus-inf", float("-inf"), "expected an integer"),
        ("negative", -1, "must be between 2"),
        ("zero", 0, "must be between 2"),
        ("one", 1, "must be between 2"),
        ("fraction", 2.5, "expected an integer"),
        ("absurd-float", 1e13, "must be between 2"),
        ("absurd-int", 10**18, "must be between 2"),
        ("absurd-bigint", 10**40, "must be between 2"),
        ("huge-float", 1e300, "must be between 2"),
        ("date", dt.date(2024, 1, 1), "got date/time"),
    ],
    "seed": [
        ("string", "x", "expected an integer, got string 'x'"),
        ("bool", True, "expected an integer, got boolean"),
        ("fraction", 1.5, "expected an integer, got number 1.5"),
        ("negative", -1, "must be >= 0"),
        ("nan", float("nan"), "expected an integer"),
        ("inf", float("inf"), "expected an integer"),
        ("array", [1], "expected an integer"),
        ("time", dt.time(12, 30), "got date/time 12:30:00"),
    ],
    "max_cases": [
        ("string", "x", "expected an integer"),
        ("bool", False, "expected an integer, got boolean false"),
        ("zero", 0, "must be >= 1"),
        ("negative", -5, "must be >= 1"),
        ("fraction", 2.5, "expected an integer"),
        ("nan", float("nan"), "expected an integer"),
        ("inf", float("inf"), "expected an integer"),
    ],
}
LEVEL_BAD = [
    ("string", "x", "expected a number"),
    ("bool", True, "expected a number, got boolean"),
    ("nan", float("nan"), "strictly between 0 and 1"),
    ("inf", float("inf"), "strictly between 0 and 1"),
    ("minus-inf", float("-inf"), "strictly between 0 and 1"),
    ("negative", -0.5, "strictly between 0 and 1"),
    ("zero", 0, "strictly between 0 and 1"),
    ("one", 1, "strictly between 0 and 1"),
    ("above-one", 1.5, "strictly between 0 and 1"),
    ("huge", 1e300, "strictly between 0 and 1"),
    ("array", [0.9], "expected a number, got an array"),
]


# ---------------------------------------------------------- run and top
def run_mutants(c: Corpus, base: str, data: dict[str, Any]) -> None:
    for k, bad in INT_RUN.items():
        for tag, v, match in bad:
            c.add(base, f"run-{k}-{tag}", setp(data, ("run", k), v), f"run.{k}", f"{k} = {v!r}", match)
    for k in ("confidence", "alpha"):
        for tag, v, match in LEVEL_BAD:
            c.add(base, f"run-{k}-{tag}", setp(data, ("run", k), v), f"run.{k}", f"{k} = {v!r}", match)
    for k, typo in [
        ("samples", "sampels"),
        ("seed", "seeds"),
        ("confidence", "confidance"),
        ("alpha", "alpah"),
        ("max_cases", "max_case"),
        ("samples", "Samples"),
    ]:
        c.add(
            base,
            f"run-typo-{typo}",
            rename(data, ("run", k), typo),
            f"run.{typo}",
            f"misspelt key {typo} for {k}",
            f"unknown key '{typo}'; did you mean '{k}'?",
        )
    d = setp(data, ("run", "threads"), 4)
    c.add(
        base,
        "run-unknown-threads",
        d,
        "run.threads",
        "unknown key threads in [run]",
        "unknown key 'threads' (expected one of: samples, seed, confidence, alpha, error_control, method, randomizations, estimators, max_cases)",
    )
    d = setp(data, ("run", "sam ples"), 4)
    c.add(base, "run-unknown-quoted-key", d, "run.sam ples", "quoted key with a space", "unknown key 'sam ples'")
    for tag, v, match in [
        ("number", 5, "expected a table [run], got number 5"),
        ("array", [1, 2], "expected a table [run], got an array of 2 items"),
        ("string", "fast", "expected a table [run], got string 'fast'"),
    ]:
        d = {"run": v, **{k: x for k, x in data.items() if k != "run"}}
        c.add(base, f"run-is-{tag}", d, "run", f"run = {v!r} instead of a table", match)


def top_mutants(c: Corpus, base: str, data: dict[str, Any]) -> None:
    for k, typo in [("pair", "pairs"), ("sweep", "sweeps"), ("run", "Run")]:
        if k in data:
            c.add(
                base,
                f"top-typo-{typo}",
                rename(data, (k,), typo),
                typo,
                f"misspelt top-level key {typo}",
                f"unknown key '{typo}'; did you mean '{k}'?",
            )
    d = dict(data, version=2)
    c.add(base, "top-unknown-version", d, "version", "unknown top-level key version", "unknown key 'version'")
    for k in ("pair", "sweep"):
        if k not in data:
            continue
        d = {x: (5 if x == k else v) for x, v in data.items()}
        c.add(base, f"top-{k}-number", d, k, f"{k} = 5", f"expected an array of tables [[{k}]], got number 5")
        d = {x: (data[k][0] if x == k else v) for x, v in data.items()}
        c.add(base, f"top-{k}-single-table", d, k, f"[{k}] is a single table", f"got a single table [{k}]")
        d = {x: ([1, 2] if x == k else v) for x, v in data.items()}
        c.add(base, f"top-{k}-array-of-numbers", d, f"{k}[1]", f"{k} = [1, 2]", "expected a table, got number 1")
    empty = {"run": data["run"]} if "run" in data else {}
    c.add(base, "top-nothing", empty, "", "only the [run] table", "no [[pair]] or [[sweep]] entries")


# ----------------------------------------------------------------- entries
def entry_mutants(c: Corpus, base: str, data: dict[str, Any], kind: str, names: list[str]) -> None:
    """Mutations of every [[pair]] / [[sweep]] entry's own keys."""
    for i, entry in enumerate(data.get(kind, [])):
        w = f"{kind}[{i + 1}]"
        p = (kind, i)
        for k in ("name", "p", "q"):
            c.add(
                base,
                f"{kind}{i + 1}-missing-{k}",
                delp(data, (*p, k)),
                w,
                f"{k} deleted",
                f"missing required key '{k}'",
            )
        for tag, v, match in [
            ("number", 42, "expected a string, got number 42"),
            ("bool", True, "expected a string"),
            ("empty", "", "must not be empty"),
            ("blank", "   ", "must not be empty"),
            ("brackets", "a[1]", "free of '[' and ']'"),
            ("reverse", "x/reverse", "must not end in '/reverse'"),
            ("control", "tab\tname", "must be printable"),
        ]:
            c.add(base, f"{kind}{i + 1}-name-{tag}", setp(data, (*p, "name"), v), f"{w}.name", f"name = {v!r}", match)
        other = [n for n in names if n != entry["name"]]
        if other and i > 0:
            first = names[0]
            c.add(
                base,
                f"{kind}{i + 1}-name-duplicate",
                setp(data, (*p, "name"), first),
                f"{w}.name",
                f"name duplicates '{first}'",
                f"duplicate name '{first}'",
            )
        for tag, v, match in [
            ("backward", "backward", "got 'backward'"),
            ("empty", "", "got ''"),
            ("number", 1, "expected a string, got number 1"),
            ("array", ["both"], "expected a string"),
        ]:
            c.add(
                base,
                f"{kind}{i + 1}-direction-{tag}",
                setp(data, (*p, "direction"), v),
                f"{w}.direction",
                f"direction = {v!r}",
                match,
            )
        for k, typo in [("name", "nmae"), ("p", "P")]:
            hint = f"did you mean '{k}'?" if k == "name" else "unknown key 'P' (expected one of"
            c.add(
                base,
                f"{kind}{i + 1}-typo-{typo}",
                rename(data, (*p, k), typo),
                f"{w}.{typo}",
                f"key {k} misspelt as {typo}",
                hint,
            )
        if "direction" in entry:
            c.add(
                base,
                f"{kind}{i + 1}-typo-directon",
                rename(data, (*p, "direction"), "directon"),
                f"{w}.directon",
                "direction misspelt",
                "did you mean 'direction'?",
            )
        c.add(
            base,
            f"{kind}{i + 1}-unknown-weight",
            setp(data, (*p, "weight"), 1.0),
            f"{w}.weight",
            "unknown key weight",
            "unknown key 'weight'",
        )
        for side in ("p", "q"):
            for tag, v, match in [
                ("number", 3.0, "expected a table like"),
                ("string", "normal", "got string 'normal'"),
                ("array", [0.0, 1.0], "got an array of 2 items"),
            ]:
                c.add(
                    base,
                    f"{kind}{i + 1}-{side}-{tag}",
                    setp(data, (*p, side), v),
                    f"{w}.{side}",
                    f"{side} = {v!r} instead of a table",
                    match,
                )
            dist = entry[side]
            scale = next(k for k in ("std", "var", "cov") if k in dist)
            c.add(
                base,
                f"{kind}{i + 1}-{side}-no-mean",
                delp(data, (*p, side, "mean")),
                f"{w}.{side}",
                f"{side}.mean deleted",
                "missing required key 'mean'",
            )
            c.add(
                base,
                f"{kind}{i + 1}-{side}-no-scale",
                delp(data, (*p, side, scale)),
                f"{w}.{side}",
                f"{side}.{scale} deleted",
                "needs one of std, var or cov",
            )
            extra = "var" if scale != "var" else "std"
            c.add(
                base,
                f"{kind}{i + 1}-{side}-two-scales",
                setp(data, (*p, side, extra), 1.0),
                f"{w}.{side}",
                f"{side} has both {scale} and {extra}",
                "give exactly one of std, var or cov",
            )
            for k, typo in [("mean", "maen"), (scale, {"std": "sdt", "var": "vra", "cov": "covv"}[scale])]:
                c.add(
                    base,
                    f"{kind}{i + 1}-{side}-typo-{typo}",
                    rename(data, (*p, side, k), typo),
                    f"{w}.{side}.{typo}",
                    f"{side}.{k} misspelt",
                    f"did you mean '{k}'?",
                )


def leaf_mutants(c: Corpus, base: str, data: dict[str, Any]) -> None:
    """Invalid numbers at every fixed number of every [[pair]] (cycling through the kinds of badness)."""
    for i, entry in enumerate(data.get("pair", [])):
        for side in ("p", "q"):
            for k, v in entry[side].items():
                paths = list(leaves(v, ("pair", i, side, k)))
                if k == "cov":
                    continue  # matrices have their own mutations
                bad = NOT_A_NUMBER + NON_FINITE + (NON_POSITIVE if k in ("std", "var") else [])
                step = max(1, len(paths) // 3)
                for j, path in enumerate(paths[::step][:3]):
                    for n, (tag, value, match) in enumerate(bad):
                        if (n + j) % 2:  # every kind somewhere, not every kind everywhere
                            continue
                        c.add(
                            base,
                            f"{show(path)}-{tag}",
                            setp(data, path, value),
                            show(path),
                            f"{show(path)} = {value!r}",
                            match,
                        )
                if isinstance(v, list) and len(v) > 1:
                    c.add(
                        base,
                        f"{show(('pair', i, side, k))}-empty",
                        setp(data, ("pair", i, side, k), []),
                        show(("pair", i, side, k)),
                        f"{k} = []",
                        "must not be an empty array",
                    )
                    c.add(
                        base,
                        f"{show(('pair', i, side, k))}-nested",
                        setp(data, (*paths[0],), [1.0]),
                        show(paths[0]),
                        f"{show(paths[0])} is an array",
                        "expected a number, got an array",
                    )
                gen = {"linspace": [1, 2, 3]}
                c.add(
                    base,
                    f"{show(('pair', i, side, k))}-generator",
                    setp(data, ("pair", i, side, k), gen),
                    show(("pair", i, side, k)),
                    f"{k} is a generator in a [[pair]]",
                    "only allowed in [[sweep]] entries",
                )


def matrix_mutants(c: Corpus, base: str, data: dict[str, Any]) -> None:
    """Asymmetric, indefinite, ragged and mis-sized covariance matrices in [[pair]] entries."""
    for i, entry in enumerate(data.get("pair", [])):
        for side in ("p", "q"):
            cov = entry[side].get("cov")
            if not isinstance(cov, list):
                continue
            w = show(("pair", i, side, "cov"))
            a = np.array(cov, dtype=float)
            d = a.shape[0]
            bumped = [row[:] for row in cov]
            bumped[0][d - 1] = cov[0][d - 1] + 0.1 * float(np.max(np.abs(a)))
            c.add(
                base,
                f"{w}-asymmetric",
                setp(data, ("pair", i, side, "cov"), bumped),
                w,
                f"cov[1][{d}] changed but not cov[{d}][1]",
                "cov must be symmetric",
            )
            zero = [row[:] for row in cov]
            zero[d - 1][d - 1] = 0.0
            c.add(
                base,
                f"{w}-zero-diagonal",
                setp(data, ("pair", i, side, "cov"), zero),
                w,
                f"cov[{d}][{d}] = 0",
                "positive definite: diagonal entry",
            )
            neg = [row[:] for row in cov]
            neg[0][0] = -abs(cov[0][0])
            c.add(
                base,
                f"{w}-negative-diagonal",
                setp(data, ("pair", i, side, "cov"), neg),
                w,
                "cov[1][1] negative",
                "positive definite: diagonal entry",
            )
            # symmetric, positive diagonal, but indefinite: a big off-diagonal pair
            indef = [row[:] for row in cov]
            big = 2.0 * float(np.sqrt(a[0, 0] * a[d - 1, d - 1])) + float(np.max(np.abs(a)))
            indef[0][d - 1] = indef[d - 1][0] = big
            assert np.linalg.eigvalsh(np.array(indef))[0] < 0
            c.add(
                base,
                f"{w}-indefinite",
                setp(data, ("pair", i, side, "cov"), indef),
                w,
                "symmetric with positive diagonal but indefinite",
                "smallest eigenvalue",
            )
            c.add(
                base,
                f"{w}-negated",
                setp(data, ("pair", i, side, "cov"), (-a).tolist()),
                w,
                "negative definite (every entry negated)",
                "positive definite",
            )
            ragged = [row[:] for row in cov]
            ragged[1] = ragged[1][:-1]
            c.add(
                base,
                f"{w}-ragged",
                setp(data, ("pair", i, side, "cov"), ragged),
                f"{w}[2]",
                "row 2 one entry short",
                f"a {d}x{d} matrix needs {d} entries in every row, row 2 has {d - 1}",
            )
            wide = [[*row, 0.0] for row in cov]
            c.add(
                base,
                f"{w}-not-square",
                setp(data, ("pair", i, side, "cov"), wide),
                f"{w}[1]",
                f"a {d}x{d + 1} matrix",
                f"row 1 has {d + 1}",
            )
            c.add(
                base,
                f"{w}-flat",
                setp(data, ("pair", i, side, "cov"), [row[0] for row in cov]),
                w,
                "cov given as a vector",
                "expected a square matrix given as an array of rows",
            )
            c.add(
                base, f"{w}-empty", setp(data, ("pair", i, side, "cov"), []), w, "cov = []", "expected a square matrix"
            )
            for tag, value, match in [*NON_FINITE[:2], NOT_A_NUMBER[0]]:
                path = ("pair", i, side, "cov", d - 1, 0)
                c.add(
                    base, f"{show(path)}-{tag}", setp(data, path, value), show(path), f"{show(path)} = {value!r}", match
                )
            path = ("pair", i, side, "cov", 0, 0)
            c.add(
                base,
                f"{show(path)}-nested",
                setp(data, path, [1.0]),
                show(path),
                "a matrix entry is an array",
                "expected a number, got an array",
            )
            # dimension mismatches with the mean
            mean = entry[side]["mean"]
            if isinstance(mean, list):
                c.add(
                    base,
                    f"{w}-mean-too-short",
                    setp(data, ("pair", i, side, "mean"), mean[:-1]),
                    show(("pair", i, side, "mean")),
                    f"mean has {d - 1} entries, cov is {d}x{d}",
                    f"mean has {d - 1} entries but cov is {d}x{d}",
                )
            bigger = [[*row, 0.0] for row in cov] + [[0.0] * d + [1.0]]
            c.add(
                base,
                f"{w}-one-dim-more",
                setp(data, ("pair", i, side, "cov"), bigger),
                show(("pair", i, side, "mean")) if isinstance(mean, list) else show(("pair", i)),
                f"cov is {d + 1}x{d + 1}",
                "dimension",
            )


def dimension_mutants(c: Corpus, base: str, data: dict[str, Any]) -> None:
    """p and q of a [[pair]] with different dimensions, and vectors of the wrong length."""
    for i, entry in enumerate(data.get("pair", [])):
        w = show(("pair", i))
        for side in ("p", "q"):
            dist = entry[side]
            for k in ("std", "var"):
                v = dist.get(k)
                if isinstance(v, list) and isinstance(dist["mean"], list):
                    c.add(
                        base,
                        f"{w}-{side}-{k}-longer",
                        setp(data, ("pair", i, side, k), [*v, 1.0]),
                        show(("pair", i, side, "mean")),
                        f"{side}.{k} one entry longer than the mean",
                        "dimensions must match",
                    )
        q = entry["q"]
        if "cov" not in q and "cov" not in entry["p"]:
            d = len(entry["p"]["mean"]) if isinstance(entry["p"]["mean"], list) else 1
            scale = next(k for k in ("std", "var") if k in q)
            bad_q = {"mean": [0.0] * (d + 1), scale: [1.0] * (d + 1)}
            c.add(
                base,
                f"{w}-q-dim-plus-one",
                setp(data, ("pair", i, "q"), bad_q),
                w,
                f"p has dimension {d}, q {d + 1}",
                f"p has dimension {d} but q has dimension {d + 1}",
            )


# ------------------------------------------------------------------ sweeps
def grid_mutants(c: Corpus, base: str, data: dict[str, Any], j: int, side: str, k: str, kind: str) -> None:
    """Mutations of a grid generator at sweep[j].side.k."""
    w = show(("sweep", j, side, k))
    g = ("sweep", j, side, k)
    args = get(data, g)[kind]
    positive = k in ("std", "var", "cov")
    if kind in ("linspace", "logspace"):
        a, b, n = args
        cases = [
            ("arity-2", [a, b], f"{w}.{kind}", "expected [start, stop, n] (3 items), got 2 items"),
            ("arity-4", [a, b, n, 1], f"{w}.{kind}", "(3 items), got 4 items"),
            ("n-zero", [a, b, 0], f"{w}.{kind}[3]", "must be an integer >= 1, got 0"),
            ("n-negative", [a, b, -3], f"{w}.{kind}[3]", ">= 1, got -3"),
            ("n-float", [a, b, 2.5], f"{w}.{kind}[3]", "expected an integer, got number 2.5"),
            ("n-string", [a, b, "41"], f"{w}.{kind}[3]", "expected an integer, got string '41'"),
            ("start-nan", [float("nan"), b, n], f"{w}.{kind}[1]", "must be finite, got nan"),
            ("stop-inf", [a, float("inf"), n], f"{w}.{kind}[2]", "must be finite, got inf"),
            ("start-string", ["a", b, n], f"{w}.{kind}[1]", "expected a number, got string 'a'"),
            ("n-huge", [a, b, 10**20], f"sweep[{j + 1}]", "more than max_cases"),
            ("n-million", [a, b, 10**6], f"sweep[{j + 1}]", "expands to 1,000,000 cases"),
        ]
        if kind == "logspace":
            cases += [
                ("overflow", [a, 400, n], f"{w}.logspace", "not a finite float"),
                ("underflow", [-400, b, n], f"{w}.logspace", f"{k} must be positive, got 0.0"),
            ]
        elif positive:
            cases += [("through-zero", [-1.0, b, n], f"{w}.linspace", f"{k} must be positive, got -1.0")]
        for tag, v, field, match in cases:
            c.add(base, f"{w}-{kind}-{tag}", setp(data, (*g, kind), v), field, f"{kind} = {v!r}", match)
    c.add(base, f"{w}-{kind}-not-array", setp(data, (*g, kind), 5), f"{w}.{kind}", f"{kind} = 5", "expected an array")
    c.add(
        base,
        f"{w}-two-generators",
        setp(data, g, {kind: args, "values": [1.0, 2.0]}),
        w,
        "two generators in one table",
        "give only one of values, linspace, logspace or random",
    )
    c.add(base, f"{w}-no-generator", setp(data, g, {}), w, "an empty generator table", "got an empty table")
    typo = {"linspace": "linspce", "logspace": "logspase", "values": "valeus"}[kind]
    c.add(
        base,
        f"{w}-typo-{typo}",
        setp(data, g, {typo: args}),
        f"{w}.{typo}",
        f"{kind} misspelt",
        f"did you mean '{kind}'?",
    )
    c.add(
        base,
        f"{w}-extra-key",
        setp(data, g, {kind: args, "step": 1}),
        f"{w}.step",
        "extra key in a generator",
        "unknown key 'step'",
    )
    vals = [
        ("empty", [], f"{w}.values", "must not be empty"),
        ("duplicate", [0.5, 2.0, 0.5], f"{w}.values", "the value 0.5 occurs more than once"),
        (
            "equal-after-parsing",
            Raw("[1.0, 1.00000000000000001]"),
            f"{w}.values",
            "the value 1.0 occurs more than once",
        ),
        ("string", [1.0, "2"], f"{w}.values[2]", "expected a number, got string '2'"),
        ("nested", [[1.0, 2.0]], f"{w}.values[1]", "values must be numbers"),
        ("nan", [1.0, float("nan")], f"{w}.values[2]", "must be finite"),
    ]
    if positive:
        vals.append(("non-positive", [1.0, -2.0], f"{w}.values", f"{k} must be positive, got -2.0"))
    for tag, v, field, match in vals:
        c.add(base, f"{w}-values-{tag}", setp(data, g, {"values": v}), field, f"values = {v!r}", match)


def random_mutants(c: Corpus, base: str, data: dict[str, Any], j: int, side: str, k: str) -> None:
    w = show(("sweep", j, side, k))
    g = ("sweep", j, side, k)
    spec = get(data, g)
    family = spec["random"]
    cases: list[tuple[str, dict[str, Any], str, str]] = [
        (
            "family-typo",
            {**spec, "random": family + "x"},
            f"{w}.random",
            f"unknown random family '{family}x'; did you mean",
        ),
        ("family-number", {**spec, "random": 1}, f"{w}.random", "expected a family name"),
        (
            "family-unknown",
            {**spec, "random": "cauchy"},
            f"{w}.random",
            "unknown random family 'cauchy' (expected one of",
        ),
        (
            "wrong-field",
            {**spec, "random": "spd" if k != "cov" else "normal"},
            f"{w}.random",
            f"generates {'cov' if k != 'cov' else 'mean'}, not {k}",
        ),
        ("dim-zero", {**spec, "dim": 0}, f"{w}.dim", "must be an integer >= 1, got 0"),
        ("dim-negative", {**spec, "dim": -2}, f"{w}.dim", ">= 1, got -2"),
        ("dim-float", {**spec, "dim": 2.5}, f"{w}.dim", "expected an integer, got number 2.5"),
        ("dim-string", {**spec, "dim": "5"}, f"{w}.dim", "expected an integer, got string '5'"),
        ("dim-absurd", {**spec, "dim": 10**9}, f"{w}.dim", "at most"),
        ("unknown-key", {**spec, "seed": 3}, f"{w}.seed", "unknown key 'seed'"),
    ]
    if family == "spd":
        cases += [
            ("cond-below-one", {**spec, "cond": 0.5}, f"{w}.cond", "a condition number is >= 1, got 0.5"),
            ("cond-nan", {**spec, "cond": float("nan")}, f"{w}.cond", "must be finite"),
            ("cond-string", {**spec, "cond": "big"}, f"{w}.cond", "expected a number, got string 'big'"),
            ("cond-missing", {x: v for x, v in spec.items() if x != "cond"}, w, "random = \"spd\" needs 'cond'"),
            (
                "cond-typo",
                {**{x: v for x, v in spec.items() if x != "cond"}, "conde": spec["cond"]},
                f"{w}.conde",
                "did you mean 'cond'?",
            ),
            ("overflow", {**spec, "cond": 1e300, "scale": 1e100}, w, "the largest eigenvalue scale * cond overflows"),
            ("scale-zero", {**spec, "scale": 0.0}, f"{w}.scale", "must be positive, got 0.0"),
            ("scale-negative", {**spec, "scale": -1.0}, f"{w}.scale", "must be positive, got -1.0"),
        ]
    if family == "normal":
        cases += [
            ("loc-nan", {**spec, "loc": float("nan")}, f"{w}.loc", "must be finite"),
            ("scale-zero", {**spec, "scale": 0.0}, f"{w}.scale", "must be positive, got 0.0"),
            ("scale-bool", {**spec, "scale": True}, f"{w}.scale", "expected a number, got boolean true"),
            (
                "uniform-low-above-high",
                {"random": "uniform", "dim": spec.get("dim", 1), "low": 2.0, "high": 1.0},
                w,
                "low must be less than high",
            ),
            (
                "uniform-missing-high",
                {"random": "uniform", "dim": spec.get("dim", 1), "low": 0.0},
                w,
                "random = \"uniform\" needs 'high'",
            ),
            (
                "loguniform-low-zero",
                {"random": "loguniform", "dim": spec.get("dim", 1), "low": 0.0, "high": 1.0},
                f"{w}.low",
                "must be positive for loguniform, got 0.0",
            ),
        ]
    for tag, v, field, match in cases:
        c.add(base, f"{w}-{tag}", setp(data, g, v), field, f"{k} = {v!r}", match)


def sized_fields(entry: dict[str, Any]) -> list[tuple[str, str]]:
    """Fields of a sweep entry that fix its dimension (vectors, matrices, random families with dim), in order."""
    out = []
    for side in ("p", "q"):
        for k, v in entry[side].items():
            if isinstance(v, list) or (k == "cov" and not isinstance(v, dict)) or (isinstance(v, dict) and "dim" in v):
                out.append((side, k))
    return out


def sweep_mutants(c: Corpus, base: str, data: dict[str, Any]) -> None:
    for j, entry in enumerate(data.get("sweep", [])):
        w = f"sweep[{j + 1}]"
        has_random = False
        for side in ("p", "q"):
            for k, v in entry[side].items():
                if isinstance(v, dict) and "random" in v:
                    has_random = True
                    random_mutants(c, base, data, j, side, k)
                elif isinstance(v, dict):
                    kind = next(x for x in ("values", "linspace", "logspace") if x in v)
                    grid_mutants(c, base, data, j, side, k, kind)
                elif isinstance(v, list) and any(isinstance(x, dict) for x in v):
                    for e, x in enumerate(v):
                        path = ("sweep", j, side, k, e)
                        if isinstance(x, dict):
                            c.add(
                                base,
                                f"{show(path)}-random-entry",
                                setp(data, path, {"random": "normal", "dim": 1}),
                                show(path),
                                "a random family in a vector entry",
                                "a vector entry can only be swept by",
                            )
                            kind = next(y for y in ("values", "linspace", "logspace") if y in x)
                            c.add(
                                base,
                                f"{show(path)}-{kind}-n-zero",
                                setp(data, (*path, kind), [0, 1, 0]),
                                f"{show(path)}.{kind}[3]",
                                "n = 0 in a vector entry grid",
                                ">= 1, got 0",
                            )
                        else:
                            c.add(
                                base,
                                f"{show(path)}-nan",
                                setp(data, path, float("nan")),
                                show(path),
                                "nan beside a swept entry",
                                "must be finite",
                            )
                    # the error names the first field that disagrees with the first sized one
                    sized = sized_fields(entry)
                    blamed = sized[1] if sized[0] == (side, k) else (side, k)
                    c.add(
                        base,
                        f"{show(('sweep', j, side, k))}-longer",
                        setp(data, ("sweep", j, side, k), [*v, 0.0]),
                        show(("sweep", j, *blamed)),
                        f"{side}.{k} one entry longer than the other fields",
                        "mismatched dimensions",
                    )
                elif isinstance(v, list) and k in ("std", "var"):
                    path = ("sweep", j, side, k, len(v) - 1)
                    c.add(
                        base,
                        f"{show(path)}-negative",
                        setp(data, path, -0.5),
                        show(path),
                        f"{show(path)} = -0.5",
                        f"{k} must be positive, got -0.5",
                    )
                elif isinstance(v, float) and k in ("std", "var"):
                    c.add(
                        base,
                        f"{show(('sweep', j, side, k))}-zero",
                        setp(data, ("sweep", j, side, k), 0.0),
                        show(("sweep", j, side, k)),
                        f"{side}.{k} = 0.0",
                        f"{k} must be positive, got 0.0",
                    )
        if has_random:
            for tag, v, match in [
                ("zero", 0, "must be >= 1, got 0"),
                ("negative", -1, "must be >= 1"),
                ("float", 2.5, "expected an integer, got number 2.5"),
                ("string", "3", "expected an integer, got string '3'"),
            ]:
                c.add(
                    base,
                    f"{w}-count-{tag}",
                    setp(data, ("sweep", j, "count"), v),
                    f"{w}.count",
                    f"count = {v!r}",
                    match,
                )
            c.add(
                base,
                f"{w}-count-huge",
                setp(data, ("sweep", j, "count"), 10**9),
                w,
                "count = 10**9",
                "expands to 1,000,000,000 cases",
            )
            stripped = copy.deepcopy(data)
            first = None
            for side in ("p", "q"):
                for k, v in list(stripped["sweep"][j][side].items()):
                    if isinstance(v, dict) and "random" in v:
                        v.pop("dim", None)
                        first = first or f"{w}.{side}.{k}"
                    elif isinstance(v, list):
                        stripped["sweep"][j][side][k] = 0.0 if k == "mean" else 1.0
            c.add(
                base,
                f"{w}-no-dim-anywhere",
                stripped,
                first or w,
                "no field fixes the dimension",
                "dim is required: no other field of p or q fixes the dimension",
            )
        else:
            c.add(
                base,
                f"{w}-count-without-random",
                setp(data, ("sweep", j, "count"), 2),
                f"{w}.count",
                "count in a sweep without random fields",
                "but this sweep has no random field",
            )
        c.add(
            base,
            f"{w}-typo-cuont",
            setp(data, ("sweep", j, "cuont"), 2),
            f"{w}.cuont",
            "count misspelt",
            "did you mean 'count'?",
        )


def sweep_dimension_mutants(c: Corpus, base: str, data: dict[str, Any]) -> None:
    """Random families and fixed fields of a sweep that disagree on the dimension."""
    for j, entry in enumerate(data.get("sweep", [])):
        fields = [(side, k, v) for side in ("p", "q") for k, v in entry[side].items()]
        dims = [(side, k, v) for side, k, v in fields if isinstance(v, dict) and "dim" in v]
        if len(dims) >= 2:
            side, k, v = dims[-1]
            c.add(
                base,
                f"sweep{j + 1}-{side}-{k}-dim-mismatch",
                setp(data, ("sweep", j, side, k, "dim"), v["dim"] + 1),
                show(("sweep", j, side, k)),
                f"{side}.{k} has dim {v['dim'] + 1}, the others {v['dim']}",
                "mismatched dimensions",
            )
        if dims:
            side, k, v = dims[0]
            bad = [0.0] * (v["dim"] + 2)
            other = "q" if side == "p" else "p"
            c.add(
                base,
                f"sweep{j + 1}-{other}-mean-vector-mismatch",
                setp(data, ("sweep", j, other, "mean"), bad),
                show(("sweep", j, other, "mean")),
                f"{other}.mean has {v['dim'] + 2} entries, dim = {v['dim']}",
                "mismatched dimensions",
            )
        if any(k == "cov" and isinstance(v, dict) for _, k, v in fields):
            side, k, v = next((s, k, v) for s, k, v in fields if k == "cov" and isinstance(v, dict))
            if "dim" in v:
                one = {**v, "dim": 1, "cond": 10.0}
                d = setp(data, ("sweep", j, side, k), one)
                for s2, k2, v2 in fields:
                    if isinstance(v2, dict) and "dim" in v2 and (s2, k2) != (side, k):
                        d = setp(d, ("sweep", j, s2, k2, "dim"), 1)
                c.add(
                    base,
                    f"sweep{j + 1}-spd-1x1-cond",
                    d,
                    show(("sweep", j, side, k, "cond")),
                    "a 1x1 random covariance with cond = 10",
                    "a 1x1 covariance has condition number 1",
                )


# --------------------------------------------------------------- cross-cutting
def limit_mutants(c: Corpus, base: str, data: dict[str, Any], total: int, biggest: tuple[int, int]) -> None:
    j, size = biggest
    c.add(
        base,
        "limit-max-cases-small",
        setp(data, ("run", "max_cases"), 10),
        f"sweep[{j}]",
        "max_cases = 10 below the config's size",
        f"expands to {size:,} cases ({total:,} in all), more than max_cases = 10",
    )
    c.add(
        base,
        "limit-max-cases-one-short",
        setp(data, ("run", "max_cases"), total - 1),
        f"sweep[{j}]",
        f"max_cases = {total - 1}, one below the {total} cases",
        f"({total:,} in all), more than max_cases",
    )


def syntax_mutants(c: Corpus, base: str, text: str) -> None:
    """Breakage of the TOML text itself: the error names the line and column."""
    lines = text.splitlines(keepends=True)

    def first(pattern: str) -> int:
        return next(i for i, line in enumerate(lines) if re.search(pattern, line))

    def edit(i: int, line: str) -> str:
        return "".join([*lines[:i], line, *lines[i + 1 :]])

    i_pair = first(r"^\[\[(pair|sweep)\]\]")
    i_name = first(r"^name = ")
    i_key = first(r"^\w+ = [0-9]")
    key_line = lines[i_key]
    key = key_line.split("=")[0].strip()
    i_inline = first(r"= \{ mean")
    inline = lines[i_inline]
    header = lines[i_pair].strip()
    c.syntax(base, "unclosed-table-header", edit(i_pair, header[:-1] + "\n"), f"{header[:-1]} without its second ]")
    c.syntax(
        base,
        "unterminated-string",
        edit(i_name, lines[i_name].rstrip("\n").rstrip('"') + "\n"),
        "a name string without its closing quote",
    )
    c.syntax(base, "missing-value", edit(i_key, f"{key} =\n"), f"{key} = with no value")
    c.syntax(base, "duplicate-key", edit(i_key, key_line + key_line), f"{key} given twice", "Cannot overwrite a value")
    c.syntax(
        base,
        "trailing-comma-inline",
        edit(i_inline, inline.replace(" }", ", }", 1)),
        "a trailing comma in an inline table",
    )
    c.syntax(
        base, "newline-in-inline", edit(i_inline, inline.replace(", ", ",\n", 1)), "a line break inside an inline table"
    )
    c.syntax(base, "unclosed-inline", edit(i_inline, inline.replace(" }", "", 1)), "an inline table without }")
    c.syntax(base, "stray-character", edit(i_key, "@" + key_line), "a stray @ before a key")
    c.syntax(base, "key-without-value", edit(i_key, key + "\n"), "a key alone on its line")
    for tag, literal in [
        ("double-underscore", "1__000"),
        ("hex-float", "0x1.8p3"),
        ("leading-dot", ".5"),
        ("trailing-dot", "5."),
        ("bad-exponent", "1e"),
        ("leading-zero", "0100"),
        ("python-none", "None"),
        ("python-true", "True"),
        ("capital-nan", "NaN"),
        ("word", "many"),
    ]:
        c.syntax(base, f"number-{tag}", edit(i_key, f"{key} = {literal}\n"), f"{key} = {literal}")
    c.syntax(base, "duplicate-run-table", text + "\n[run]\nseed = 1\n", "a second [run] table")
    kind = header.strip("[]")
    c.syntax(base, "table-after-array", text + f"\n[{kind}]\nname = 'x'\n", f"[{kind}] after [[{kind}]] entries")
    c.syntax(base, "unclosed-array", edit(i_key, f"{key} = [1, 2\n"), "an array without ]")
    c.syntax(base, "cr-line-ends", text.replace("\n", "\r"), "old Mac line ends (bare CR)")
    c.syntax(base, "nul-byte", edit(i_key, key_line.rstrip("\n") + "\x00\n"), "a NUL byte after a value")
    c.syntax(
        base,
        "control-char-in-string",
        edit(i_name, lines[i_name].replace('"', '"\x07', 1)),
        "a raw control character in a string",
    )
    c.syntax(
        base,
        "bad-utf8",
        text.encode() + b"# caf\xe9\n",
        "a Latin-1 byte in a comment (not UTF-8)",
        "not a UTF-8 text file",
    )
    c.syntax(base, "utf16", text.encode("utf-16"), "the file is UTF-16", "not a UTF-8 text file")
    c.syntax(
        base,
        "deep-nesting",
        text + "\nx = " + "[" * 3000 + "]" * 3000 + "\n",
        "arrays nested 3000 deep",
        "nested too deeply",
    )
    c.syntax(base, "json", '{"pair": [{"name": "a"}]}\n', "a JSON document")
    c.syntax(base, "yaml", "pair:\n  - name: a\n    p: {mean: 0, std: 1}\n", "a YAML document")
    # truncations inside tokens: a half-written config file
    n_cut = 0
    for frac in np.linspace(0.05, 0.95, 60):
        cut = int(len(text) * frac)
        piece = text[:cut]
        try:
            tomllib.loads(piece)
        except tomllib.TOMLDecodeError:
            c.syntax(base, f"truncated-at-{cut}", piece, f"file cut off after {cut} of {len(text)} characters")
            n_cut += 1
        if n_cut == 12:
            break


def special_mutants(c: Corpus) -> None:
    """Mutations of classic-std.toml and extreme.toml not covered by the generic families."""
    classic, _ = load("classic-std.toml")
    c.add(
        "classic",
        "linspace-from-zero",
        setp(classic, ("sweep", 0, "p", "std", "linspace"), [0.0, 3.0, 61]),
        "sweep[1].p.std.linspace",
        "the std grid starts at 0",
        "std must be positive, got 0.0 (value 1 of 61)",
    )
    c.add(
        "classic",
        "max-cases-below-both",
        setp(classic, ("run", "max_cases"), 100),
        "sweep[1]",
        "max_cases = 100 but 60 points in both directions",
        "expands to 120 cases, more than max_cases = 100",
    )
    c.add(
        "classic",
        "samples-1e13",
        setp(classic, ("run", "samples"), 1e13),
        "run.samples",
        "samples = 1e13",
        "must be between 2 and 1e+12, got 10,000,000,000,000",
    )

    extreme, _ = load("extreme.toml")
    pairs = {p["name"]: i for i, p in enumerate(extreme["pair"])}
    d50, f10 = pairs["diagonal-50d"], pairs["full-10d-cond-1e8"]
    tiny, huge = pairs["tiny-scale"], pairs["huge-scale"]
    c.add(
        "extreme",
        "tiny-std-underflows",
        setp(extreme, ("pair", tiny, "p", "std"), Raw("1e-400")),
        f"pair[{tiny + 1}].p.std",
        "std = 1e-400 reads as 0.0",
        "std must be positive, got 0.0",
    )
    c.add(
        "extreme",
        "huge-std-overflows",
        setp(extreme, ("pair", huge, "p", "std"), Raw("1e400")),
        f"pair[{huge + 1}].p.std",
        "std = 1e400 reads as inf",
        "must be finite, got inf",
    )
    c.add(
        "extreme",
        "diag50-std-37-negative",
        setp(extreme, ("pair", d50, "p", "std", 36), -138.9),
        f"pair[{d50 + 1}].p.std[37]",
        "entry 37 of 50 negative",
        "std must be positive, got -138.9",
    )
    q_std = extreme["pair"][d50]["q"]["std"]
    c.add(
        "extreme",
        "diag50-q-49-entries",
        setp(extreme, ("pair", d50, "q", "std"), q_std[:-1]),
        f"pair[{d50 + 1}]",
        "q has 49 standard deviations, p 50",
        "p has dimension 50 but q has dimension 49",
    )
    c.add(
        "extreme",
        "diag50-mean-51-entries",
        setp(extreme, ("pair", d50, "p", "mean"), extreme["pair"][d50]["p"]["mean"] + [0.0]),
        f"pair[{d50 + 1}].p.mean",
        "mean has 51 entries, std 50",
        "mean has 51 entries but std has 50",
    )
    cov = extreme["pair"][f10]["p"]["cov"]
    asym = copy.deepcopy(cov)
    asym[2][6] *= 1.0 + 1e-9
    c.add(
        "extreme",
        "full10-asymmetric-1e-9",
        setp(extreme, ("pair", f10, "p", "cov"), asym),
        f"pair[{f10 + 1}].p.cov",
        "cov[3][7] off by a relative 1e-9",
        "cov must be symmetric: cov[2,6]",
    )
    trunc = [row[:] for row in cov[:-1]]
    c.add(
        "extreme",
        "full10-nine-rows",
        setp(extreme, ("pair", f10, "p", "cov"), trunc),
        f"pair[{f10 + 1}].p.cov[1]",
        "9 rows of 10 entries",
        "a 9x9 matrix needs 9 entries in every row, row 1 has 10",
    )
    a = np.array(cov)
    w, v = np.linalg.eigh(a)
    w[0] = -w[0]  # flip the sign of the smallest eigenvalue: a tiny but real indefiniteness
    b = (v * w) @ v.T
    b = 0.5 * (b + b.T)
    # 12 significant digits: eigh's last bits differ between LAPACK builds, the file must not
    b = np.vectorize(lambda x: float(f"{x:.12g}"))(b)
    assert np.linalg.eigvalsh(b)[0] < 0
    c.add(
        "extreme",
        "full10-smallest-eigenvalue-negated",
        setp(extreme, ("pair", f10, "p", "cov"), b.tolist()),
        f"pair[{f10 + 1}].p.cov",
        "smallest eigenvalue (1e-4 of 1e4) made negative",
        "must be positive definite",
    )
    sweeps = {s["name"]: j for j, s in enumerate(extreme["sweep"])}
    near = sweeps["std-near-one"]
    c.add(
        "extreme",
        "near-one-duplicate",
        setp(extreme, ("sweep", near, "p", "std", "values"), [1.0000000001, 1.0000000001]),
        f"sweep[{near + 1}].p.std.values",
        "the same value twice",
        "occurs more than once",
    )
    spd = sweeps["random-spd-10d-cond-1e8"]
    c.add(
        "extreme",
        "spd10-cond-overflow",
        setp(extreme, ("sweep", spd, "p", "cov", "cond"), Raw("1e310")),
        f"sweep[{spd + 1}].p.cov.cond",
        "cond = 1e310 reads as inf",
        "must be finite",
    )
    c.add(
        "extreme",
        "spd10-scale-cond-overflow",
        setp(extreme, ("sweep", spd, "p", "cov", "scale"), 1e301),
        f"sweep[{spd + 1}].p.cov",
        "scale 1e301 times cond 1e8 overflows",
        "scale * cond overflows",
    )
    c.add(
        "extreme",
        "spd10-q-mean-9",
        setp(extreme, ("sweep", spd, "q", "mean"), [0.0] * 9),
        f"sweep[{spd + 1}].q.mean",
        "q.mean has 9 entries, dim = 10",
        "mismatched dimensions",
    )


# ----------------------------------------------------------------- corpus
def example_sizes(data: dict[str, Any]) -> tuple[int, tuple[int, int]]:
    """Number of cases of example.toml and its largest sweep (1-based index, size), counted by hand."""
    pairs = sum(2 if p.get("direction") == "both" else 1 for p in data["pair"])
    sizes = []
    for s in data["sweep"]:
        n = s.get("count", 1)
        for side in ("p", "q"):
            for v in s[side].values():
                items = [v] if isinstance(v, dict) else (v if isinstance(v, list) else [])
                for x in items:
                    if isinstance(x, dict) and "values" in x:
                        n *= len(x["values"])
                    elif isinstance(x, dict) and ("linspace" in x or "logspace" in x):
                        n *= (x.get("linspace") or x.get("logspace"))[2]
        sizes.append(n * (2 if s.get("direction") == "both" else 1))
    j = int(np.argmax(sizes))
    return pairs + sum(sizes), (j + 1, sizes[j])


def build() -> dict[str, Mutant]:
    c = Corpus()
    example, text = load("example.toml")
    names = [e["name"] for e in example["pair"]] + [e["name"] for e in example["sweep"]]
    run_mutants(c, "example", example)
    top_mutants(c, "example", example)
    entry_mutants(c, "example", example, "pair", names)
    entry_mutants(c, "example", example, "sweep", names)
    leaf_mutants(c, "example", example)
    matrix_mutants(c, "example", example)
    dimension_mutants(c, "example", example)
    sweep_mutants(c, "example", example)
    sweep_dimension_mutants(c, "example", example)
    total, biggest = example_sizes(example)
    limit_mutants(c, "example", example, total, biggest)
    syntax_mutants(c, "example", text)
    _classic, classic_text = load("classic-std.toml")
    syntax_mutants(c, "classic", classic_text)
    special_mutants(c)
    return c.mutants


def write(corpus: dict[str, Mutant], folder: Path = CORPUS) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.toml"):
        if old.stem not in corpus:
            old.unlink()
    for name, m in corpus.items():
        (folder / f"{name}.toml").write_bytes(m.content())


def stale(corpus: dict[str, Mutant], folder: Path = CORPUS) -> list[str]:
    """Names of corpus files missing, extra or different from what :func:`build` makes."""
    on_disk = {p.stem: p.read_bytes() for p in folder.glob("*.toml")}
    wanted = {name: m.content() for name, m in corpus.items()}
    return sorted(n for n in on_disk.keys() | wanted.keys() if on_disk.get(n) != wanted.get(n))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the stored corpus differs")
    args = parser.parse_args(argv)
    corpus = build()
    if args.check:
        bad = stale(corpus)
        if bad:
            print(f"{len(bad)} corpus files are stale, e.g. {bad[:5]}; run {Path(__file__).name}", file=sys.stderr)
            return 1
        print(f"corpus of {len(corpus)} configs is current")
        return 0
    write(corpus)
    print(f"wrote {len(corpus)} configs to {CORPUS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
