"""The HTML report: self-contained, well formed, images that decode, and a real browser that agrees."""

from __future__ import annotations

import base64
import hashlib
import html
import html.parser
import io
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from mcverify.cli.main import main
from mcverify.reporting.html import CSP, SCRIPT

ROOT = Path(__file__).resolve().parents[2]
VOID = {"meta", "img", "br", "hr", "input", "link"}


class Page(html.parser.HTMLParser):
    """Every start tag with its attributes; asserts that tags nest properly."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.stack: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):  # type: ignore[no-untyped-def]
        self.tags.append((tag, dict(attrs)))
        if tag not in VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):  # type: ignore[no-untyped-def]
        assert self.stack and self.stack[-1] == tag, f"</{tag}> closes <{self.stack[-1] if self.stack else None}>"
        self.stack.pop()

    def handle_data(self, data):  # type: ignore[no-untyped-def]
        self.text.append(data)


def sha256(script: str) -> str:
    """A script's source as a Content-Security-Policy names it."""
    return "'sha256-" + base64.b64encode(hashlib.sha256(script.encode()).digest()).decode() + "'"


def with_probe(text: str, probe: str) -> str:
    """The page with ``probe`` (a script's source) run after its own, allowed by its hash."""
    csp = CSP.replace("script-src ", f"script-src {sha256(probe)} ")
    return text.replace("</body>", f"<script>{probe}</script></body>").replace(CSP, csp)


def parse(text: str) -> Page:
    page = Page()
    page.feed(text)
    page.close()
    assert page.stack == [], f"unclosed tags {page.stack}"
    return page


@pytest.fixture(scope="module")
def report(small_run, tmp_path_factory):  # type: ignore[no-untyped-def]
    pytest.importorskip("matplotlib")
    folder, _ = small_run
    out = tmp_path_factory.mktemp("html") / "small.html"
    assert main(["report", str(folder / "small.csv"), "-o", str(out), "-q"]) == 0
    return out


def test_self_contained_structure(report):
    text = report.read_text()
    page = parse(text)
    tags = [t for t, _ in page.tags]
    assert text.startswith("<!DOCTYPE html>") and "link" not in tags
    meta = {a.get("http-equiv"): a.get("content") for t, a in page.tags if t == "meta"}
    assert meta["Content-Security-Policy"] == CSP
    # One script, inline, and the policy allows it alone: by its hash.
    assert [a for t, a in page.tags if t == "script"] == [{}]
    assert text.count("<script>") == 1 and f"<script>{SCRIPT}</script>" in text
    assert f"script-src {sha256(SCRIPT)}" in CSP and "unsafe-inline'" not in CSP.split("script-src")[1]
    # Nothing refers outside the file: no URLs with a scheme or a host except data: images.
    for _, attrs in page.tags:
        for key, value in attrs.items():
            if key in ("src", "href") and value:
                assert value.startswith(("data:image/png;base64,", "#")), value
    plain = re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "", text)
    assert not re.search(r"https?://|//[a-z]", plain)
    headings = [t for t in tags if t in ("h1", "h2")]
    assert headings[0] == "h1" and tags.count("table") >= 6 and tags.count("figure") == 6
    body = " ".join(page.text)
    assert "35 cases: 35 pass, 0 fail" in body and "Worst errors per method" in body


def test_embedded_images_are_valid_pngs(report):
    from PIL import Image

    page = parse(report.read_text())
    imgs = [a for t, a in page.tags if t == "img"]
    assert len(imgs) == 6
    for a in imgs:
        data = base64.b64decode(a["src"].split(",", 1)[1], validate=True)
        with Image.open(io.BytesIO(data)) as img:
            img.verify()
            assert img.format == "PNG" and img.size == (int(a["width"]), int(a["height"]))
        assert a["alt"]


def test_table_marks_failures_and_explains_columns(small_run, tmp_path):
    _folder, frame = small_run
    bad = frame.copy()
    bad.loc[[3, 7], "verdict"] = "fail"
    bad.loc[[3, 7], "reason"] = "quadrature differs by 1 > tolerance 1e-12 <b>"
    bad.to_csv(tmp_path / "bad.csv", index=False)
    out = tmp_path / "bad.html"
    assert main(["report", str(tmp_path / "bad.csv"), "-o", str(out), "-q", "--no-plots"]) == 0
    text = out.read_text()
    page = parse(text)
    assert sum(1 for t, a in page.tags if t == "tr" and a.get("class") == "fail") == 2
    assert "&lt;b&gt;" in text and "<b>" not in text.split("<main>")[1].split("Failures")[0]  # escaped
    titles = {a.get("title") for t, a in page.tags if t == "th"}
    assert "standard error of kl_mc" in titles
    assert not any(t == "img" for t, _ in page.tags)


def chromium() -> str | None:
    return os.environ.get("MCVERIFY_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")


#: Injected into a copy of the report: after load, the title says how many images decoded, how
#: many there are, and how many resources came from anywhere but data: URIs.
PROBE = """
window.addEventListener("error", function (e) { document.title = "error:" + e.message; });
window.addEventListener("load", function () {
  var imgs = Array.prototype.slice.call(document.images);
  var ok = imgs.filter(function (i) { return i.complete && i.naturalWidth > 0; }).length;
  var ext = performance.getEntriesByType("resource").filter(function (r) { return !/^data:/.test(r.name); });
  document.title = "ok:" + ok + "/" + imgs.length + ":" + ext.length;
});
"""


def run_chromium(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    base = [
        chromium(),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}",
        "--enable-logging=stderr",
        "--v=0",
    ]
    return subprocess.run(base + args, capture_output=True, text=True, timeout=180)


@pytest.mark.slow
@pytest.mark.skipif(chromium() is None, reason="chromium is not installed (apt-get install chromium)")
def test_report_in_headless_chromium(report, tmp_path, artifacts):
    text = report.read_text()
    n_images = text.count("<img ")
    probe = tmp_path / "probe.html"
    probe.write_text(with_probe(text, PROBE))
    proc = run_chromium(["--virtual-time-budget=10000", "--dump-dom", probe.as_uri()], tmp_path)
    title = re.search(r"<title>(.*?)</title>", proc.stdout)
    assert title is not None, proc.stderr[-2000:]
    assert title.group(1) == f"ok:{n_images}/{n_images}:0"  # every image decoded, nothing else loaded
    console = [line for line in proc.stderr.splitlines() if ":CONSOLE" in line]
    assert console == []  # no errors, no CSP violations

    out = Path(os.environ.get("MCVERIFY_TEST_OUTPUT", ROOT / "test-output"))
    out.mkdir(parents=True, exist_ok=True)
    shot = out / "html-report.png"
    shot.unlink(missing_ok=True)
    proc = run_chromium(
        ["--window-size=1280,2000", "--hide-scrollbars", f"--screenshot={shot}", report.as_uri()], tmp_path
    )
    assert shot.is_file(), proc.stderr[-2000:]
    from PIL import Image

    with Image.open(shot) as img:
        assert img.size == (1280, 2000)
        colours = img.convert("RGB").getcolors(maxcolors=1 << 20)
        assert colours is not None and len(colours) > 100  # text, tables and a plot, not a blank page
    artifacts.append(f"screenshot of the HTML report in headless Chromium: {shot}")


#: Clicks a column name of the full table once and twice, then filters, and writes what it sees in the title.
TABLE_PROBE = """
window.addEventListener("error", function (e) { document.title = "error:" + e.message; });
window.addEventListener("load", function () {
  var table = document.querySelector("table.full");
  var names = Array.prototype.map.call(table.tHead.rows[0].cells, function (c) { return c.textContent; });
  var col = names.indexOf("kl_closed"), name = names.indexOf("name");
  function column(i) {
    return Array.prototype.filter.call(table.tBodies[0].rows, function (r) { return !r.hidden; })
      .map(function (r) { return r.cells[i].textContent; });
  }
  var th = table.tHead.rows[0].cells[col];
  th.click();
  var up = column(col);
  th.click();
  var down = column(col);
  var input = document.querySelector("div.filter input");
  input.value = "GRID  mean=-1";
  input.dispatchEvent(new Event("input"));
  var found = column(name);
  document.title = "json:" + JSON.stringify({up: up, down: down, found: found,
    count: document.querySelector("div.filter span").textContent, box: !document.querySelector("div.filter").hidden});
});
"""


@pytest.mark.slow
@pytest.mark.skipif(chromium() is None, reason="chromium is not installed (apt-get install chromium)")
def test_table_sorts_and_filters_in_headless_chromium(small_run, report, tmp_path):
    _folder, frame = small_run
    probe = tmp_path / "probe.html"
    probe.write_text(with_probe(report.read_text(), TABLE_PROBE))
    proc = run_chromium(["--virtual-time-budget=10000", "--dump-dom", probe.as_uri()], tmp_path)
    title = re.search(r"<title>json:(.*?)</title>", proc.stdout, re.S)
    assert title is not None, proc.stdout[:300] + proc.stderr[-2000:]
    seen = json.loads(html.unescape(title.group(1)))
    assert [line for line in proc.stderr.splitlines() if ":CONSOLE" in line] == []  # no CSP violation
    values = [float(v) for v in seen["up"]]
    assert values == sorted(values) and len(values) == len(frame)  # as numbers: 10 after 9
    assert sorted(values) == sorted(float(f"{v:.6g}") for v in frame["kl_closed"])
    assert seen["down"] == seen["up"][::-1] or [float(v) for v in seen["down"]] == sorted(values, reverse=True)
    want = [n for n in frame["name"] if "grid" in n.lower() and "mean=-1" in n.lower()]
    assert sorted(seen["found"]) == sorted(want) and len(want) == 3
    assert seen["count"] == f"3 of {len(frame)} rows" and seen["box"]
