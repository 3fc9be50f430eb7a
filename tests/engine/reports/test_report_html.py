"""The HTML report: one self-contained page, its charts (Vega-Lite specs rendered to SVG offline
by vl-convert), and the page in headless Chromium.

The page is checked as text (charts, marks per row, tick labels, "no data" instead of empty
charts, escaping, nothing fetched from elsewhere),
then opened in headless Chromium (the Debian ``chromium`` package; the test skips, saying so,
without it): ``--dump-dom`` shows the DOM after the page's script ran, and a screenshot is saved
(under ``$LEADFLOW_ARTIFACTS`` when set, else the test's tmp path) and decoded to check that
the charts' colours were painted.
"""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import ClassVar

import pytest

from leadflow.engine import Engine
from leadflow.engine import reports as rp

DEALS = Path(__file__).parents[2] / "definitions" / "reports" / "deals.yaml"
P = "deals"
BASE = datetime(2026, 1, 1, tzinfo=UTC)
AS_OF = BASE + timedelta(days=90)
BLUE = (0x25, 0x63, 0xEB)  # the first colour of the charts' palette


def day(n: float) -> datetime:
    """``n`` days after 1 January 2026, 00:00 UTC."""
    return BASE + timedelta(days=n)


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """30 deals over two months, some won, some lost for price or timing, some open; one lead
    id and one owner are HTML."""
    path = tmp_path_factory.mktemp("html") / "r.db"
    with Engine(f"sqlite:///{path}") as e:
        e.deploy(DEALS)
        for k in range(30):
            lead = "<script>alert(1)</script>" if k == 27 else f"D{k:02d}"
            owner = "<b>bob</b>" if k % 2 else "ann"
            start = day(k * 2)
            e.start(P, lead, {"amount": 1000 * (k % 4 + 1)}, owner=owner, at=start)
            e.fire(P, lead, "contact", at=start + timedelta(days=2 + k % 5))
            if k % 4 == 0:
                reason = "price" if k % 8 else "timing"
                e.fire(P, lead, "lose", {"lost_reason": reason}, at=start + timedelta(days=9))
                continue
            e.fire(P, lead, "propose", at=start + timedelta(days=8 + k % 7))
            if k % 4 == 1:
                e.fire(P, lead, "win", at=start + timedelta(days=20 + k % 9))
        yield e


@pytest.fixture(scope="module")
def every_report(engine: Engine) -> list[rp.Report]:
    """Every report as of day 90, both forecasts and a backtest split on day 30."""
    return [
        rp.pipeline(engine, P, as_of=AS_OF),
        rp.funnel(engine, P, as_of=AS_OF),
        rp.time_in_stage(engine, P, as_of=AS_OF),
        rp.stuck(engine, P, as_of=AS_OF, older_than=timedelta(days=7)),
        rp.loss_reasons(engine, P, as_of=AS_OF),
        rp.owners(engine, P, as_of=AS_OF),
        rp.forecast(engine, P, as_of=AS_OF, period="week", periods=6),
        rp.forecast(engine, P, as_of=AS_OF, period="week", periods=6, method="naive"),
        rp.backtest(engine, P, split_at=day(30), as_of=AS_OF, period="week"),
    ]


@pytest.fixture(scope="module")
def page(every_report: list[rp.Report]) -> str:
    """The HTML page of every report."""
    return rp.to_html(every_report)


def charts(html: str) -> dict[str, str]:
    """Each ``<svg class="chart">`` by its ``data-chart`` id."""
    found = re.findall(r'(<svg [^>]*data-chart="([^"]+)".*?</svg>)', html, re.S)
    return {name: svg for svg, name in found}


def bars(svg: str) -> list[str]:
    """The descriptions (``aria-label``) of a chart's bars."""
    return re.findall(
        r'<path aria-label="([^"]*)" role="graphics-symbol" aria-roledescription="bar"', svg
    )


def ticks(svg: str) -> list[str]:
    """The tick labels of a chart's axes."""
    axes = re.findall(r"role-axis-label.*?</g>", svg, re.S)
    return [t for axis in axes for t in re.findall(r"<text[^>]*>([^<]*)</text>", axis)]


def test_page_has_a_chart_per_report_with_a_mark_per_row(
    page: str, every_report: list[rp.Report]
) -> None:
    """Pipeline, funnel, time in stage, stuck, losses, owners, forecast (value and wins) and
    backtest each have a chart; bars match the rows they draw."""
    pipeline, funnel, time_in_stage = every_report[:3]
    found = charts(page)
    assert set(found) == {
        "pipeline",
        "funnel",
        "time-in-stage",
        "stuck",
        "loss-reasons",
        "owners",
        "forecast",
        "forecast-wins",
        "backtest",
    }
    assert len(bars(found["pipeline"])) == len(pipeline.rows)
    assert len(bars(found["funnel"])) == len(funnel.path)
    closed = [r for r in time_in_stage.rows if r.closed_median_days is not None]
    assert len(bars(found["time-in-stage"])) == len(closed)
    assert "of closed visits" in found["time-in-stage"]  # open ones are not mixed in
    assert len(bars(found["forecast"])) == 6 * 2  # 6 weeks x (markov, naive)
    assert len(bars(found["backtest"])) == len(every_report[-1].rows) * 3
    reached = dict(funnel.overall())
    assert f"New: {reached['new']} leads reached it" in bars(found["funnel"])


def test_page_is_self_contained_and_escapes_text(page: str) -> None:
    """No external script, style, image or font; lead ids and owners are escaped text."""
    assert page.startswith("<!DOCTYPE html>")
    assert page.count("<script>") == 1  # the page's own inline script
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)
    assert "<link" not in page
    assert "@import" not in page
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;b&gt;bob&lt;/b&gt;" in page


def test_to_html_of_one_report_and_of_none(engine: Engine) -> None:
    """One report makes a page with its own chart only; no report at all is a ValueError."""
    html = rp.to_html([rp.loss_reasons(engine, P, as_of=AS_OF)], title="Losses <Q1>")
    assert set(charts(html)) == {"loss-reasons"}
    assert "<title>Losses &lt;Q1&gt;</title>" in html
    with pytest.raises(ValueError, match="at least one report"):
        rp.to_html([])


# -- in a browser ------------------------------------------------------------------------------


def chromium() -> str:
    """The Chromium binary, or skip saying how to get it."""
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        found = shutil.which(name)
        if found:
            return found
    pytest.skip("headless Chromium is not installed (apt-get install chromium chromium-driver)")


def run_chromium(binary: str, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run headless Chromium with a throwaway profile; fail with its stderr if it fails."""
    flags = [
        "--headless",
        "--disable-gpu",
        "--no-first-run",
        "--disable-dev-shm-usage",
        f"--user-data-dir={profile}",
    ]
    if os.geteuid() == 0:
        flags.append("--no-sandbox")  # Chromium refuses to sandbox as root (CI runs as root)
    done = subprocess.run(
        [binary, *flags, *args], capture_output=True, text=True, timeout=180, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done


def png_pixels(data: bytes) -> tuple[int, int, list[bytes]]:
    """Decode an 8-bit RGB/RGBA, non-interlaced PNG (what Chromium writes): rows of pixels."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, header = 8, b"", b""
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        header = body if kind == b"IHDR" else header
        idat += body if kind == b"IDAT" else b""
        pos += 12 + length
    width, height, depth, color, _, _, interlace = struct.unpack(">IIBBBBB", header)
    assert (depth, interlace) == (8, 0)
    channels = {2: 3, 6: 4}[color]
    raw = zlib.decompress(idat)
    stride = width * channels
    rows: list[bytes] = []
    prev = bytearray(stride)
    for y in range(height):
        kind = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for i in range(stride):
            left = line[i - channels] if i >= channels else 0
            up, corner = prev[i], prev[i - channels] if i >= channels else 0
            if kind == 1:
                line[i] = (line[i] + left) & 255
            elif kind == 2:
                line[i] = (line[i] + up) & 255
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 255
            elif kind == 4:
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                pred = left if pa <= pb and pa <= pc else up if pb <= pc else corner
                line[i] = (line[i] + pred) & 255
        rows.append(bytes(line))
        prev = line
    return width, channels, rows


def artifacts_dir(tmp_path: Path) -> Path:
    """Where screenshots go: ``$LEADFLOW_ARTIFACTS`` if set, else the test's tmp path."""
    target = Path(os.environ.get("LEADFLOW_ARTIFACTS") or tmp_path)
    target.mkdir(parents=True, exist_ok=True)
    return target


def test_page_renders_in_headless_chromium(page: str, tmp_path: Path) -> None:
    """Chromium runs the page's script (every chart counted) and paints the charts' colours;
    the screenshot is kept as an artifact."""
    binary = chromium()
    html = tmp_path / "report.html"
    html.write_text(page, encoding="utf-8")
    dom = run_chromium(binary, tmp_path / "profile", "--dump-dom", html.as_uri()).stdout
    assert 'data-rendered="yes"' in dom
    count = re.search(r'<span id="chart-count">(\d+)</span>', dom)
    assert count is not None
    assert int(count.group(1)) == len(charts(page)) == 9
    assert dom.count('aria-roledescription="bar"') == page.count('aria-roledescription="bar"')

    shot = artifacts_dir(tmp_path) / "report-screenshot.png"
    run_chromium(
        binary,
        tmp_path / "profile",
        "--hide-scrollbars",
        "--window-size=1000,2400",
        f"--screenshot={shot}",
        html.as_uri(),
    )
    width, channels, rows = png_pixels(shot.read_bytes())
    assert width == 1000
    blue = sum(
        1
        for row in rows
        for i in range(0, len(row), channels)
        if abs(row[i] - BLUE[0]) + abs(row[i + 1] - BLUE[1]) + abs(row[i + 2] - BLUE[2]) < 12
    )
    assert blue > 2000, f"only {blue} pixels of the bars' blue in {shot}"


def test_a_report_type_without_a_chart_gets_its_table(engine: Engine) -> None:
    """A Report subclass the page does not know how to draw still shows its rows."""

    @dataclass(frozen=True)
    class Row:
        clock: str
        breached: int

    @dataclass(frozen=True, kw_only=True)
    class Board(rp.Report):
        name: ClassVar[str] = "sla"
        title: ClassVar[str] = "SLA board"
        row_type: ClassVar[type] = Row
        rows: tuple[Row, ...]

    board = Board(process=P, version=None, as_of=AS_OF, rows=(Row("first-call", 3),))
    html = rp.to_html([board])
    assert "<h2>SLA board</h2>" in html
    assert "<td>first-call</td>" in html
    assert charts(html) == {}
