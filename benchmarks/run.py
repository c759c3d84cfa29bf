"""All of mcverify's speed benchmarks, each timing paired with its baseline in interleaved rounds.

Run: python benchmarks/run.py [--quick] [--rounds R] [--only NAME ...] [--json FILE]

A machine shared with other work is noisy: a baseline measured once and a
timing measured later can differ by 3x for reasons that have nothing to do
with the code.  Here every benchmark is a group of approaches that run
interleaved, ``R`` rounds of each approach once, after one untimed round
(warm-up).  For each approach the table gives the best and the median time
of the rounds, per unit (pair, draw, case or command), and its ratio to the
group's baseline, the median of the per-round ratios: a burst of load slows
both sides of a round alike.  The load average before and after is
printed, and everything is written as JSON (``--json``, default
``benchmark.json``) beside the printed table.

Groups (baseline first):

- ``univariate``: KL of 10^6 univariate pairs: the vectorised numpy textbook
  formula, ``kl_divergence`` on two :class:`~mcverify.GaussianBatch`; the
  accuracy of both on the 80-digit reference grid is printed too.
- ``full-d10``: KL of 10^4 full-covariance d = 10 pairs: numpy's batched
  Cholesky formula, ``kl_divergence`` on batches, and one pair at a time.
- ``quadrature``: 10^4 univariate pairs: the batched path the sweeps use,
  ``quadrature_kl`` on batches, and ``quadrature_kl`` one pair at a time.
- ``direct-2d``: 8 bivariate full-covariance pairs, ``quadrature_kl(method="direct")``
  (nested adaptive quadrature over the plane) against scipy's ``dblquad`` of
  the same integrand written naively (``multivariate_normal``-free scalar
  code, the same box and tolerances), and the one-dimensional ``reduced``
  method.
- ``mc-1d``, ``mc-d10``: Monte Carlo draws: raw SFC64 generation into a
  buffer (the limit of any estimator that draws x ~ p), for d = 10 also the
  (n x d) @ (d x d) product, a naive numpy/scipy estimate, ``monte_carlo_kl``.
- ``mc-batch``: 10^3 univariate pairs at 10^4 samples: raw generation of the
  same draws, ``monte_carlo_kl`` on batches, one pair at a time.
- ``sweep``: ``mcverify run`` of a univariate sweep (subprocess, one and two
  processes) against raw generation of its draws in a subprocess.
- ``example``: ``mcverify run configs/example.toml`` with the default jobs,
  ``--jobs 1`` and ``--jobs 2``, against ``python -c "import mcverify"``.
- ``startup``: ``python -c pass``, ``import mcverify``, ``mcverify --help``.
- ``audit``: ``mcverify.audit`` of a correct candidate in this process, and
  ``mcverify audit --expr`` as a command, against ``python -c pass``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import mcverify  # noqa: E402
from mcverify import Gaussian, GaussianBatch, kl_divergence, monte_carlo_kl, quadrature_kl  # noqa: E402

PY = sys.executable
ENV = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}


@dataclass(frozen=True)
class Timing:
    """One approach of a group: seconds per unit over the rounds."""

    group: str
    name: str
    unit: str
    units: int
    best: float
    median: float
    ratio_median: float
    ratio_best: float
    baseline: str


def interleaved(
    group: str, approaches: dict[str, tuple[Callable[[], object], int]], unit: str, rounds: int
) -> list[Timing]:
    """Time every approach once per round, in turn, after one untimed round.

    ``approaches`` maps a name to ``(function, units)``; the first is the
    baseline.  Ratios are per round (``t / t_baseline`` in the same round),
    then summarised by their median; ``ratio_best`` is best over best.
    """
    names = list(approaches)
    times: dict[str, list[float]] = {n: [] for n in names}
    for r in range(rounds + 1):
        for n in names:
            fn, units = approaches[n]
            t0 = time.perf_counter()
            fn()
            dt = (time.perf_counter() - t0) / units
            if r:
                times[n].append(dt)
    base = names[0]
    out = []
    for n in names:
        ratios = [t / b for t, b in zip(times[n], times[base])]
        out.append(
            Timing(
                group,
                n,
                unit,
                approaches[n][1],
                min(times[n]),
                statistics.median(times[n]),
                statistics.median(ratios),
                min(times[n]) / min(times[base]),
                base,
            )
        )
    return out


# ------------------------------------------------------------------ groups
def textbook_univariate(mp, sp, mq, sq):
    r = sp / sq
    return np.log(sq / sp) + 0.5 * (r * r + ((mp - mq) / sq) ** 2) - 0.5


def group_univariate(n: int, rounds: int) -> tuple[list[Timing], dict]:
    rng = np.random.default_rng(1)
    mp, mq = rng.normal(size=n), rng.normal(size=n)
    sp, sq = np.exp(rng.normal(size=n)), np.exp(rng.normal(size=n))
    p, q = GaussianBatch(mp, std=sp), GaussianBatch(mq, std=sq)
    one_p, one_q = Gaussian(0.3, std=2.0), Gaussian(0.0, std=1.0)
    timings = interleaved(
        "univariate",
        {
            "numpy textbook": (lambda: textbook_univariate(mp, sp, mq, sq), n),
            "kl_divergence(GaussianBatch)": (lambda: kl_divergence(p, q), n),
            "kl_divergence, building the batches": (
                lambda: kl_divergence(GaussianBatch(mp, std=sp), GaussianBatch(mq, std=sq)),
                n,
            ),
            "kl_divergence one pair": (lambda: [kl_divergence(one_p, one_q) for _ in range(1000)], 1000),
        },
        "pair",
        rounds,
    )
    return timings, accuracy_on_grid()


def accuracy_on_grid() -> dict:
    """Largest relative error of the batched closed form and of the textbook formula on the 80-digit grid."""
    grid = ROOT / "tests" / "data" / "kl_reference.json"
    if not grid.is_file():
        return {}
    cases = [c for c in json.loads(grid.read_text())["cases"] if c["kind"] == "univariate"]
    sides = []
    for c in cases:
        for g in (c["p"], c["q"]):
            sides.append((g["mean"], g["std"] if "std" in g else math.sqrt(g["var"])))
    ref = np.array([float(c["kl"]) for c in cases])
    mp, sp = np.array(sides[0::2]).T
    mq, sq = np.array(sides[1::2]).T
    ours = np.array([kl_divergence(Gaussian(**c["p"]), Gaussian(**c["q"])) for c in cases])
    batches = {}
    for c in cases:
        key = ("std" in c["p"], "std" in c["q"])
        batches.setdefault(key, []).append(c)
    batched = {}
    for group in batches.values():
        pn = "std" if "std" in group[0]["p"] else "var"
        qn = "std" if "std" in group[0]["q"] else "var"
        b = kl_divergence(
            GaussianBatch(np.array([c["p"]["mean"] for c in group], dtype=float), **{pn: [c["p"][pn] for c in group]}),
            GaussianBatch(np.array([c["q"]["mean"] for c in group], dtype=float), **{qn: [c["q"][qn] for c in group]}),
        )
        batched.update({c["id"]: v for c, v in zip(group, b)})
    batch_values = np.array([batched[c["id"]] for c in cases])
    with np.errstate(all="ignore"):
        text = textbook_univariate(mp, sp, mq, sq)

        def rel(v: np.ndarray) -> float:
            return float(np.nanmax(np.where(ref > 0, np.abs(v - ref) / np.where(ref > 0, ref, 1.0), np.abs(v))))

    return {
        "grid_cases": len(cases),
        "max_rel_error_batched": rel(batch_values),
        "batched_equals_per_pair": bool(np.array_equal(batch_values, ours)),
        "max_rel_error_textbook": rel(text),
    }


def spd_batch(rng: np.random.Generator, n: int, d: int) -> np.ndarray:
    a = rng.standard_normal((n, d, d))
    return a @ np.swapaxes(a, 1, 2) / d + 0.1 * np.eye(d)


def textbook_full(mp, cp, mq, cq):
    """numpy's batched Cholesky formula: 0.5 (tr + maha - d + logdet ratio)."""
    lp, lq = np.linalg.cholesky(cp), np.linalg.cholesky(cq)
    m = np.linalg.solve(lq, lp)  # L_q^{-1} L_p
    b = np.linalg.solve(lq, (mp - mq)[..., None])[..., 0]
    d = mp.shape[-1]
    logdet = 2.0 * (np.log(np.diagonal(lq, axis1=1, axis2=2)) - np.log(np.diagonal(lp, axis1=1, axis2=2))).sum(1)
    return 0.5 * ((m * m).sum((1, 2)) + (b * b).sum(1) - d + logdet)


def group_full(n: int, rounds: int) -> list[Timing]:
    rng = np.random.default_rng(2)
    d = 10
    mp, mq = rng.normal(size=(n, d)), rng.normal(size=(n, d))
    cp, cq = spd_batch(rng, n, d), spd_batch(rng, n, d)
    p, q = GaussianBatch(mp, cov=cp), GaussianBatch(mq, cov=cq)
    singles = [(p[i], q[i]) for i in range(20)]
    return interleaved(
        "full-d10",
        {
            "numpy batched Cholesky": (lambda: textbook_full(mp, cp, mq, cq), n),
            "kl_divergence(GaussianBatch)": (lambda: kl_divergence(p, q), n),
            "kl_divergence one pair": (lambda: [kl_divergence(a, b) for a, b in singles], len(singles)),
        },
        "pair",
        rounds,
    )


def group_quadrature(n: int, rounds: int) -> list[Timing]:
    from mcverify.numerics.univariate_pairs import UnivariatePairs
    from mcverify.quadrature.univariate_batch import quadrature as batch_quadrature

    rng = np.random.default_rng(3)
    mp, mq = rng.normal(size=n), rng.normal(size=n)
    sp, sq = np.exp(rng.normal(size=n)), np.exp(rng.normal(size=n))
    p, q = GaussianBatch(mp, std=sp), GaussianBatch(mq, std=sq)
    pairs = UnivariatePairs(mp, sp, np.zeros(n, bool), mq, sq, np.zeros(n, bool))
    few = [(p[i], q[i]) for i in range(50)]
    return interleaved(
        "quadrature",
        {
            "internal batched path (reduced)": (
                lambda: batch_quadrature(pairs, 1e-10, quadrature_kl, ("reduced",)),
                n,
            ),
            "quadrature_kl(GaussianBatch)": (lambda: quadrature_kl(p, q), n),
            "quadrature_kl one pair": (lambda: [quadrature_kl(a, b) for a, b in few], len(few)),
        },
        "pair",
        rounds,
    )


def raw_draws(n: int, width: int, rng: np.random.Generator, rows: int = 1 << 16) -> Callable[[], None]:
    rows = max(1, rows // width)
    buf = np.empty((rows, width))

    def raw() -> None:
        for start in range(0, n, rows):
            rng.standard_normal(out=buf[: min(rows, n - start)])

    return raw


def group_mc(d: int, n: int, rounds: int) -> list[Timing]:
    from scipy import stats

    rng = np.random.Generator(np.random.SFC64(5))
    if d == 1:
        p, q = Gaussian(0.3, std=2.0), Gaussian(0.0, std=1.0)

        def naive() -> float:
            x = rng.normal(0.3, 2.0, n)
            return float(np.mean(stats.norm.logpdf(x, 0.3, 2.0) - stats.norm.logpdf(x, 0.0, 1.0)))

        approaches = {"raw SFC64 generation": (raw_draws(n, 1, rng, 10_000), n)}
    else:
        r2 = np.random.default_rng(6)
        cp, cq = spd_batch(r2, 1, d)[0], spd_batch(r2, 1, d)[0]
        p, q = Gaussian(np.zeros(d), cov=cp), Gaussian(np.ones(d), cov=cq)
        m = np.linalg.cholesky(cp)
        block = np.empty((max(1, (1 << 16) // d), d))

        def matmul() -> None:
            for start in range(0, n, block.shape[0]):
                k = min(block.shape[0], n - start)
                rng.standard_normal(out=block[:k])
                block[:k] @ m.T

        def naive() -> float:
            x = rng.multivariate_normal(np.zeros(d), cp, n)
            return float(
                np.mean(
                    stats.multivariate_normal.logpdf(x, np.zeros(d), cp)
                    - stats.multivariate_normal.logpdf(x, np.ones(d), cq)
                )
            )

        approaches = {"raw SFC64 generation": (raw_draws(n, d, rng), n), "draws + matmul": (matmul, n)}
    approaches["naive numpy/scipy"] = (naive, n)
    approaches["monte_carlo_kl"] = (lambda: monte_carlo_kl(p, q, n, seed=1), n)
    return interleaved(f"mc-d{d}" if d > 1 else "mc-1d", approaches, "draw", rounds)


def group_mc_batch(pairs: int, samples: int, rounds: int) -> list[Timing]:
    rng = np.random.default_rng(7)
    p = GaussianBatch(rng.normal(size=pairs), std=np.exp(rng.normal(size=pairs)))
    q = Gaussian(0.0, std=1.0)
    gen = np.random.Generator(np.random.SFC64(8))
    buf = np.empty(samples)

    def raw() -> None:
        for _ in range(pairs):
            gen.standard_normal(out=buf)

    few = [p[i] for i in range(50)]
    return interleaved(
        "mc-batch",
        {
            "raw SFC64 generation": (raw, pairs),
            "monte_carlo_kl(GaussianBatch)": (lambda: monte_carlo_kl(p, q, samples, seed=1), pairs),
            "monte_carlo_kl one pair": (lambda: [monte_carlo_kl(a, q, samples, seed=i) for i, a in enumerate(few)], 50),
        },
        "pair",
        rounds,
    )


def command(*args: str, cwd: Path = ROOT) -> Callable[[], None]:
    """Run a command; exit codes 0 (pass) and 1 (a verdict failed) both count as done."""

    def run() -> None:
        done = subprocess.run([*args], cwd=cwd, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if done.returncode not in (0, 1):
            raise RuntimeError(f"{' '.join(args)} exited {done.returncode}: {done.stderr.strip()[-500:]}")

    return run


SWEEP = """[run]
samples = {samples}
seed = 1
alpha = 0.01

[[sweep]]
name = "grid"
p = {{ mean = {{ linspace = [-1.0, 1.0, {side}] }}, std = {{ logspace = [-0.5, 0.5, {side}] }} }}
q = {{ mean = 0.0, std = 1.0 }}
"""


def group_sweep(cases: int, samples: int, rounds: int, work: Path) -> list[Timing]:
    side = max(1, round(math.sqrt(cases)))
    cfg = work / "sweep.toml"
    cfg.write_text(SWEEP.format(samples=samples, side=side))
    n = side * side
    raw = (
        "import numpy as np; g = np.random.Generator(np.random.SFC64(1)); b = np.empty(10_000)\n"
        f"for _ in range({n * samples // 10_000}): g.standard_normal(out=b)"
    )
    run = [PY, "-m", "mcverify", "run", str(cfg), "-o", str(work / "sweep-out"), "--overwrite", "-q"]
    return interleaved(
        "sweep",
        {
            "raw SFC64 generation (process)": (command(PY, "-c", raw), n),
            "mcverify run --jobs 1": (command(*run, "--jobs", "1"), n),
            "mcverify run --jobs 2": (command(*run, "--jobs", "2"), n),
        },
        "case",
        rounds,
    )


def group_example(rounds: int, work: Path) -> list[Timing]:
    run = [PY, "-m", "mcverify", "run", "configs/example.toml", "-o", str(work / "example"), "--overwrite", "-q"]
    return interleaved(
        "example",
        {
            "python -c 'import mcverify'": (command(PY, "-c", "import mcverify"), 1),
            "mcverify run (default jobs)": (command(*run), 1),
            "mcverify run --jobs 1": (command(*run, "--jobs", "1"), 1),
            "mcverify run --jobs 2": (command(*run, "--jobs", "2"), 1),
        },
        "run",
        rounds,
    )


def group_startup(rounds: int) -> list[Timing]:
    return interleaved(
        "startup",
        {
            "python -c pass": (command(PY, "-c", "pass"), 1),
            "python -c 'import mcverify'": (command(PY, "-c", "import mcverify"), 1),
            "import mcverify; kl_divergence": (command(PY, "-c", "import mcverify; mcverify.kl_divergence"), 1),
            "mcverify --help": (command(PY, "-m", "mcverify", "--help"), 1),
        },
        "command",
        rounds,
    )


CANDIDATE = "0.5 * (std**2 + mean**2 - 1 - log(std**2))"


def group_audit(rounds: int) -> list[Timing]:
    def candidate(mean, std):
        return 0.5 * (std**2 + mean**2 - 1.0 - np.log(std**2))

    return interleaved(
        "audit",
        {
            "python -c pass": (command(PY, "-c", "pass"), 1),
            "mcverify.audit (in process)": (lambda: mcverify.audit(candidate, "prior-std"), 1),
            "mcverify audit --expr": (
                command(PY, "-m", "mcverify", "audit", "--expr", CANDIDATE, "--convention", "prior-std"),
                1,
            ),
        },
        "audit",
        rounds,
    )


# --------------------------------------------------------------------- main
def show(t: float) -> str:
    for scale, unit in ((1.0, "s"), (1e-3, "ms"), (1e-6, "us"), (1e-9, "ns")):
        if t >= scale:
            return f"{t / scale:.3g} {unit}"
    return f"{t / 1e-9:.3g} ns"


def table(timings: list[Timing]) -> str:
    head = f"| {'group':<10} | {'approach':<38} | {'best / unit':>12} | {'median / unit':>13} | {'x baseline (median of rounds)':>30} |"
    rule = "|" + "|".join("-" * (len(c)) for c in head.split("|")[1:-1]) + "|"
    lines = [head, rule]
    for t in timings:
        ratio = "baseline" if t.name == t.baseline else f"{t.ratio_median:.3g}x (best {t.ratio_best:.3g}x)"
        lines.append(
            f"| {t.group:<10} | {t.name:<38} | {show(t.best) + '/' + t.unit:>12} | "
            f"{show(t.median) + '/' + t.unit:>13} | {ratio:>30} |"
        )
    return "\n".join(lines)


def git_commit() -> str | None:
    try:
        return subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def group_direct_2d(rounds: int) -> list[Timing]:
    from scipy import integrate

    rng = np.random.default_rng(4)
    pairs = []
    for _ in range(8):
        gs = []
        for _ in range(2):
            a = rng.normal(size=(2, 2))
            gs.append(Gaussian(rng.normal(size=2), cov=a @ a.T + 0.1 * np.eye(2)))
        pairs.append(tuple(gs))

    def naive(p: Gaussian, q: Gaussian) -> float:
        # The textbook nested integral of p(x) (log p(x) - log q(x)) over
        # x = m_p + L_p t, t in [-8, 8]^2, with the same tolerances.
        lp, lq = np.linalg.cholesky(p.cov), np.linalg.cholesky(q.cov)
        ip, iq = np.linalg.inv(lp), np.linalg.inv(lq)
        cp = -np.log(np.diag(lp)).sum() - math.log(2 * math.pi)
        cq = -np.log(np.diag(lq)).sum() - math.log(2 * math.pi)

        def f(t1: float, t0: float) -> float:
            x = p.mean + lp @ np.array([t0, t1])
            zp, zq = ip @ (x - p.mean), iq @ (x - q.mean)
            w = math.exp(-0.5 * (t0 * t0 + t1 * t1)) / (2 * math.pi)
            return w * ((cp - 0.5 * zp @ zp) - (cq - 0.5 * zq @ zq))

        return integrate.dblquad(f, -8, 8, -8, 8, epsabs=1e-13, epsrel=1e-10)[0]

    return interleaved(
        "direct-2d",
        {
            "scipy dblquad, naive integrand": (lambda: [naive(p, q) for p, q in pairs], len(pairs)),
            'quadrature_kl(method="direct")': (
                lambda: [quadrature_kl(p, q, method="direct") for p, q in pairs],
                len(pairs),
            ),
            'quadrature_kl(method="reduced")': (lambda: [quadrature_kl(p, q) for p, q in pairs], len(pairs)),
        },
        "pair",
        rounds,
    )


GROUPS = (
    "univariate",
    "full-d10",
    "quadrature",
    "direct-2d",
    "mc-1d",
    "mc-d10",
    "mc-batch",
    "sweep",
    "example",
    "startup",
    "audit",
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes and 3 rounds (a smoke test)")
    parser.add_argument("--rounds", type=int, default=None, help="timed rounds per group (default 5, quick 3)")
    parser.add_argument("--only", nargs="+", choices=GROUPS, help="run these groups only")
    parser.add_argument("--json", default="benchmark.json", help="where to write the results (default benchmark.json)")
    args = parser.parse_args()
    rounds = args.rounds or (3 if args.quick else 5)
    q = args.quick
    load_before = os.getloadavg()
    print(f"load average before: {load_before[0]:.2f} {load_before[1]:.2f} {load_before[2]:.2f}; {rounds} rounds")
    wanted = set(args.only or GROUPS)
    timings: list[Timing] = []
    extra: dict = {}
    with tempfile.TemporaryDirectory() as tmp, mcverify.blas_threads(1):
        work = Path(tmp)
        steps: list[tuple[str, Callable[[], list[Timing]]]] = [
            ("univariate", lambda: _with_accuracy(group_univariate(10**5 if q else 10**6, rounds), extra)),
            ("full-d10", lambda: group_full(10**3 if q else 10**4, rounds)),
            ("quadrature", lambda: group_quadrature(10**3 if q else 10**4, rounds)),
            ("direct-2d", lambda: group_direct_2d(rounds)),
            ("mc-1d", lambda: group_mc(1, 10**6 if q else 10**7, rounds)),
            ("mc-d10", lambda: group_mc(10, 10**5 if q else 10**6, rounds)),
            ("mc-batch", lambda: group_mc_batch(100 if q else 1000, 10_000, rounds)),
            ("sweep", lambda: group_sweep(1000 if q else 10_000, 10_000, rounds, work)),
            ("example", lambda: group_example(rounds, work)),
            ("startup", lambda: group_startup(rounds)),
            ("audit", lambda: group_audit(rounds)),
        ]
        for name, step in steps:
            if name in wanted:
                t0 = time.perf_counter()
                timings += step()
                print(f"  {name}: {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    load_after = os.getloadavg()
    print(table(timings))
    if extra:
        print(
            "accuracy on the 80-digit grid ({grid_cases} univariate pairs): batched closed form "
            "{max_rel_error_batched:.2g} relative (bit-identical to per pair: {batched_equals_per_pair}), "
            "textbook formula {max_rel_error_textbook:.2g}".format(**extra)
        )
    print(f"load average after: {load_after[0]:.2f} {load_after[1]:.2f} {load_after[2]:.2f}")
    record = {
        "mcverify": mcverify.__version__,
        "commit": git_commit(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "rounds": rounds,
        "quick": q,
        "load_before": load_before,
        "load_after": load_after,
        "accuracy": extra,
        "timings": [asdict(t) for t in timings],
    }
    Path(args.json).write_text(json.dumps(record, indent=2) + "\n")
    print(f"written: {args.json}")


def _with_accuracy(result: tuple[list[Timing], dict], extra: dict) -> list[Timing]:
    timings, accuracy = result
    extra.update(accuracy)
    return timings


if __name__ == "__main__":
    main()
