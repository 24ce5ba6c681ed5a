"""The HTML report in a real browser: Debian's Chromium driven by Playwright (no browser download).

Screenshots land in test-artifacts/ for people to look at.
"""

from __future__ import annotations

import re
import shutil
import threading
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from lmpreflight.report.build import RunInfo, build_report
from lmpreflight.report.html import render_html
from lmpreflight.runner import Selection
from tests.helpers import FIXED, REPO, broken_report, full_run, healthy_pair

pytestmark = pytest.mark.slow
ARTIFACTS = REPO / "test-artifacts"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
HOSTILE_VM = "<img src=x onerror=alert(1)>\"'é漢"


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        return None


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """The reports, served over http://127.0.0.1 (a secure context, so the clipboard works)."""
    folder = tmp_path_factory.mktemp("site")
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_QuietHandler, directory=str(folder)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    (folder / "broken.html").write_text(render_html(broken_report()))
    source, destination = healthy_pair()
    selection = Selection(vms=("SQL01", "WEB02"))
    healthy = build_report(full_run(source, destination, selection.vms), source, destination, selection, FIXED)
    (folder / "healthy.html").write_text(render_html(healthy))

    def warned(src: dict[str, Any], dst: dict[str, Any]) -> None:
        dst["migration"]["use_any_network"] = True

    source, destination = healthy_pair(warned)
    report = build_report(full_run(source, destination, selection.vms), source, destination, selection, FIXED)
    assert report.verdict == "ready"
    (folder / "warned.html").write_text(render_html(report))

    def hostile(src: dict[str, Any], dst: dict[str, Any]) -> None:
        src["vms"][0]["name"] = HOSTILE_VM
        dst["identity"]["computer_name"] = 'HV02"><script>alert(2)</script>'

    source, destination = healthy_pair(hostile)
    selection = Selection(vms=(HOSTILE_VM,))
    report = build_report(
        full_run(source, destination, selection.vms),
        source,
        destination,
        selection,
        RunInfo("analyze", "<b>ws</b>", False, FIXED.generated_at),
    )
    (folder / "hostile.html").write_text(render_html(report))
    yield f"http://127.0.0.1:{server.server_address[1]}", folder
    server.shutdown()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    assert CHROMIUM, "Chromium is not installed: run ./scripts/bootstrap (Debian: apt-get install chromium)"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        yield browser
        browser.close()


def open_page(browser: Any, url: str, **context: Any) -> tuple[Any, list[str]]:
    page = browser.new_context(**context).new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("dialog", lambda d: (problems.append(f"dialog: {d.message}"), d.dismiss()))
    page.goto(url)
    return page, problems


def shown(page: Any) -> list[str]:
    return page.eval_on_selector_all("#results > li:not(.hidden)", "items => items.map(i => i.dataset.status)")


def test_loads_without_errors_and_screenshots(browser: Any, site: tuple[str, Path]) -> None:
    base, _ = site
    ARTIFACTS.mkdir(exist_ok=True)
    for name in ("broken", "healthy"):
        page, problems = open_page(browser, f"{base}/{name}.html", viewport={"width": 1280, "height": 900})
        assert problems == []
        page.screenshot(path=str(ARTIFACTS / f"report-{name}.png"), full_page=False)
        page.screenshot(path=str(ARTIFACTS / f"report-{name}-full.png"), full_page=True)
    page, problems = open_page(
        browser, f"{base}/broken.html", viewport={"width": 390, "height": 844}, color_scheme="dark"
    )
    page.screenshot(path=str(ARTIFACTS / "report-broken-phone-dark.png"), full_page=False)
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, "readable at phone width: no horizontal scrolling"
    assert problems == []


def test_filters_and_search_change_what_is_shown(browser: Any, site: tuple[str, Path]) -> None:
    page, problems = open_page(browser, f"{site[0]}/broken.html")
    quiet = shown(page)
    assert "fail" in quiet and "pass" not in quiet and "skip" not in quiet, "passes and skips are hidden at first"
    page.check("input[name=status][value=pass]")
    page.check("input[name=status][value=skip]")
    everything = shown(page)
    assert "pass" in everything and len(everything) > len(quiet)
    page.uncheck("input[name=status][value=pass]")
    assert "pass" not in shown(page) and len(shown(page)) < len(everything)
    page.select_option("select[name=category]", "vm")
    assert set(page.eval_on_selector_all("#results > li:not(.hidden)", "i => i.map(x => x.dataset.category)")) == {"vm"}
    page.select_option("select[name=category]", "")
    page.check("input[name=status][value=pass]")
    page.fill("input[name=q]", "legacy01")
    texts = page.eval_on_selector_all("#results > li:not(.hidden)", "i => i.map(x => x.textContent.toLowerCase())")
    assert texts and all("legacy01" in t for t in texts) and len(texts) < len(everything)
    assert page.text_content("#shown") == f"{len(texts)} of {len(everything)} shown"
    page.fill("input[name=q]", "")
    page.select_option("select[name=subject]", "destination")
    assert set(page.eval_on_selector_all("#results > li:not(.hidden)", "i => i.map(x => x.dataset.subject)")) == {
        "destination"
    }
    assert problems == []


def test_failures_come_first_and_are_open(browser: Any, site: tuple[str, Path]) -> None:
    page, _ = open_page(browser, f"{site[0]}/broken.html")
    page.check("input[name=status][value=pass]")
    statuses = shown(page)
    assert statuses[0] == "fail"
    assert statuses.index("pass") > max(i for i, s in enumerate(statuses) if s == "fail")
    assert page.eval_on_selector("#results > li.fail details", "d => d.open")


def test_copy_button_copies_the_powershell(browser: Any, site: tuple[str, Path]) -> None:
    page, problems = open_page(browser, f"{site[0]}/broken.html", permissions=["clipboard-read", "clipboard-write"])
    button = page.locator("#results button.copy").first
    expected = button.evaluate("b => b.previousElementSibling.textContent")
    button.click()
    assert page.evaluate("navigator.clipboard.readText()") == expected
    assert button.text_content() == "Copied"
    assert problems == []


def test_the_path_picture_names_the_hosts_in_the_checks_colours(browser: Any, site: tuple[str, Path]) -> None:
    colours = {}
    for name in ("broken", "healthy"):
        page, _ = open_page(browser, f"{site[0]}/{name}.html")
        hosts = page.eval_on_selector_all("#migration-path g.host-box", "gs => gs.map(g => g.dataset.host)")
        assert hosts == ["HV01", "HV02"]
        colours[name] = {
            part: page.eval_on_selector(f"#path-{part} path, #path-{part} line", "e => getComputedStyle(e).stroke")
            for part in ("tcp", "forward", "reverse")
        }
        fail_colour = page.evaluate("getComputedStyle(document.documentElement).getPropertyValue('--fail').trim()")
        pass_colour = page.evaluate("getComputedStyle(document.documentElement).getPropertyValue('--pass').trim()")
    assert colours["broken"]["tcp"] == colours["broken"]["forward"] != colours["healthy"]["tcp"]
    assert colours["healthy"]["tcp"] == colours["healthy"]["forward"] == colours["healthy"]["reverse"]
    assert _rgb(fail_colour) == colours["broken"]["tcp"] and _rgb(pass_colour) == colours["healthy"]["tcp"]


def _rgb(hex_colour: str) -> str:
    value = hex_colour.lstrip("#")
    return "rgb({}, {}, {})".format(*(int(value[i : i + 2], 16) for i in (0, 2, 4)))


def test_injected_names_stay_inert(browser: Any, site: tuple[str, Path]) -> None:
    page, problems = open_page(browser, f"{site[0]}/hostile.html")
    assert problems == [], "no alert ran and nothing broke"
    assert page.eval_on_selector_all("img", "i => i.length") == 0
    assert page.eval_on_selector_all("script", "s => s.length") == 1
    assert HOSTILE_VM in page.text_content("body")
    assert 'HV02"><script>alert(2)</script>' in page.text_content("#migration-path")
    page.check("input[name=status][value=pass]")
    page.fill("input[name=q]", "漢")
    assert len(shown(page)) >= 1
    page.screenshot(path=str(ARTIFACTS / "report-hostile-names.png"))


def test_keyboard_opens_a_result_and_reaches_the_filters(browser: Any, site: tuple[str, Path]) -> None:
    page, problems = open_page(browser, f"{site[0]}/healthy.html")
    page.check("input[name=status][value=pass]")
    summary = page.locator("#results > li.pass summary").first
    summary.focus()
    page.keyboard.press("Enter")
    assert summary.evaluate("s => s.parentElement.open")
    assert "Why it matters" in summary.evaluate("s => s.parentElement.textContent"), "the body appears when opened"
    page.locator("input[name=q]").focus()
    page.keyboard.type("sql01")
    assert all(
        "sql01" in t
        for t in page.eval_on_selector_all("#results > li:not(.hidden)", "i => i.map(x => x.textContent.toLowerCase())")
    )
    assert problems == []


def test_the_steps_lead_and_passes_live_in_the_matrix(browser: Any, site: tuple[str, Path]) -> None:
    page, problems = open_page(browser, f"{site[0]}/broken.html", viewport={"width": 1280, "height": 900})
    steps = page.locator("#before-the-move li.step")
    assert steps.count() >= 5
    assert page.eval_on_selector("#before-the-move", "e => e.getBoundingClientRect().top") < 400, "above the fold"
    places = page.eval_on_selector_all("#before-the-move li.place", "ps => ps.map(p => p.dataset.place)")
    assert places[0] == "directory" and places.index("source") < places.index("destination")
    page.click("#matrix-section > summary")
    assert page.locator("#matrix .badge.pass").count() > 10, "every pass is in the matrix"
    assert problems == []


def test_the_picture_names_the_failing_check_and_the_vms(browser: Any, site: tuple[str, Path]) -> None:
    page, _ = open_page(browser, f"{site[0]}/broken.html", viewport={"width": 1280, "height": 900})
    text = page.text_content("#migration-path")
    assert "network.firewall-rule" in text, "the red destination says why it is red"
    assert "LEGACY01" in text and "WEB02" in text, "the VMs are on the picture"
    labels = page.eval_on_selector_all(
        "#migration-path text",
        "ts => ts.map(t => { const r = t.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; })",
    )
    for i, a in enumerate(labels):
        for b in labels[i + 1 :]:
            overlap = min(a[2], b[2]) - max(a[0], b[0]) > 1 and min(a[3], b[3]) - max(a[1], b[1]) > 1
            assert not overlap, f"labels overlap: {a} {b}"


def test_phone_width_stacks_the_picture_with_readable_text(browser: Any, site: tuple[str, Path]) -> None:
    page, problems = open_page(browser, f"{site[0]}/broken.html", viewport={"width": 390, "height": 844})
    assert page.eval_on_selector("#migration-path", "e => getComputedStyle(e).display") == "none"
    narrow = page.locator("figure.path svg.narrow")
    assert narrow.is_visible()
    heights = narrow.evaluate("s => Array.from(s.querySelectorAll('text')).map(t => t.getBoundingClientRect().height)")
    assert min(heights) >= 12, "text on the phone picture is readable"
    page.screenshot(path=str(ARTIFACTS / "report-broken-phone.png"), full_page=False)
    assert problems == []


def test_dark_mode_links_are_readable(browser: Any, site: tuple[str, Path]) -> None:
    page, _ = open_page(browser, f"{site[0]}/broken.html", color_scheme="dark")
    colour = page.eval_on_selector("#results a", "a => getComputedStyle(a).color")
    red, green, blue = (int(v) for v in colour[colour.index("(") + 1 : -1].split(",")[:3])
    assert (0.2126 * red + 0.7152 * green + 0.0722 * blue) > 120, f"link colour {colour} is too dark on #0f1419"


def test_prose_is_rendered_and_evidence_is_not_json(browser: Any, site: tuple[str, Path]) -> None:
    page, _ = open_page(browser, f"{site[0]}/broken.html")
    bodies = page.eval_on_selector_all("#results details[open] .body", "bs => bs.map(b => b.innerText)")
    assert bodies
    for body in bodies:
        assert not re.search(r"(?<![*\\w])\*[A-Za-z][^*]*\*(?!\*)", body), "no literal Markdown emphasis"
        assert '["' not in body and "[]" not in body, "evidence is formatted, not raw JSON"


def test_ready_with_warnings_looks_different_from_ready(browser: Any, site: tuple[str, Path]) -> None:
    colours = {}
    for name in ("healthy", "warned"):
        page, _ = open_page(browser, f"{site[0]}/{name}.html")
        colours[name] = page.eval_on_selector(
            "header.banner", "b => getComputedStyle(b).borderLeftColor + getComputedStyle(b).borderLeftWidth"
        )
        assert page.text_content("#verdict").startswith("READY")
    assert colours["healthy"] != colours["warned"]
    assert "warning" in page.text_content("header.banner")


def test_a_printed_report_fits_two_pages(browser: Any, site: tuple[str, Path]) -> None:
    for name in ("broken", "healthy"):
        page, _ = open_page(browser, f"{site[0]}/{name}.html")
        pdf = page.pdf(format="A4")
        pages = len(re.findall(rb"/Type\s*/Page[^s]", pdf))
        assert 1 <= pages <= 2, f"{name}: {pages} printed pages"
