"""End to end in a real headless Chromium: the server runs on 127.0.0.1 (a free port, in a
thread) over a private copy of the indexed sample library, and the browser uses the pages the
way a commune official would. Screenshots of each page go to tests/artifacts/.

Uses the system Chromium (Debian ``chromium`` package) through Playwright for Python; Playwright's
own browser download is never used."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import pytest

from conftest import make_settings

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"

if not CHROMIUM.exists():
    pytest.skip("Chromium is not installed (apt-get install -y chromium)", allow_module_level=True)
playwright_sync = pytest.importorskip("playwright.sync_api", reason="pip install playwright to run browser tests")

from test_api import DRAFT, plan_text  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(sample_library):
    import uvicorn

    from cchc.api.http import create_app

    port = free_port()
    app = create_app(make_settings(sample_library.settings.home))
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.time() + 30
    while not srv.started and time.time() < deadline:
        time.sleep(0.05)
    assert srv.started, "server did not start"
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(timeout=30)


@pytest.fixture(scope="module")
def browser():
    ARTIFACTS.mkdir(exist_ok=True)
    with playwright_sync.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(locale="vi-VN", viewport={"width": 1280, "height": 900})
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    yield pg
    context.close()
    assert not errors, errors  # no JavaScript errors, no CSP violations, no failed loads


def shot(page, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def test_search_shows_results_from_several_communes(server, page):
    page.goto(server + "/")
    assert page.title().startswith("Tìm kiếm")
    page.fill("#q", "thanh toán trực tuyến")
    page.press("#q", "Enter")
    page.wait_for_selector(".plan-group")
    assert "q=thanh+to%C3%A1n+tr%E1%BB%B1c+tuy%E1%BA%BFn" in page.url  # the search is a shareable link
    units = page.locator(".plan-group h2").all_inner_texts()
    assert len(set(units)) >= 3, units
    assert page.locator("mark").count() >= 3
    assert "thanh toán trực tuyến" in page.locator("mark").first.inner_text().lower()
    shot(page, "search")

    # a result leads to its clause in the plan page
    link = page.locator("a.goto").first
    href = link.get_attribute("href")
    link.click()
    page.wait_for_load_state()
    anchor = href.split("#")[1]
    assert page.locator(f"#{anchor}").is_visible()
    shot(page, "plan")

    # filters stay in the URL and narrow the results
    page.goto(server + "/?q=thanh+toán+trực+tuyến&province=Hà+Tĩnh")
    assert set(page.locator(".plan-group h2").all_inner_texts()) == {"phường Bắc Hồng Lĩnh"}
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(server + "/?q=thanh+toan+truc+tuyen")
    page.wait_for_selector(".plan-group")
    shot(page, "search-mobile")


def test_gap_check_with_uploaded_draft(server, page, tmp_path):
    draft = tmp_path / "du-thao-an-binh.txt"
    draft.write_text(DRAFT, encoding="utf-8")
    page.goto(server + "/gap")
    option = page.locator("select[name=template] option", has_text="phường Bắc Hồng Lĩnh").first
    page.select_option("select[name=template]", option.get_attribute("value"))
    page.set_input_files("input[name=plan_file]", str(draft))
    page.click("form.gap-form button[type=submit]")
    page.wait_for_selector("#report-title", timeout=180_000)
    assert page.locator(".item.st-missing").count() > 5
    assert "xã An Bình" in page.locator(".report-head").inner_text()
    assert page.locator(".item.st-weaker").count() >= 1
    shot(page, "gap")
    with page.expect_download() as dl:
        page.click("a[href$='.xlsx']")
    assert dl.value.suggested_filename.endswith(".xlsx")
    assert Path(dl.value.path()).read_bytes()[:2] == b"PK"  # a real workbook, not an error page
    # the draft was not stored
    page.goto(server + "/plans")
    assert "An Bình" not in page.locator("main").inner_text()


def test_targets_page_shows_chart(server, page):
    page.goto(server + "/targets")
    page.select_option("select[name=indicator]", "online_payment")
    page.click("form.filters-inline button[type=submit]")
    page.wait_for_selector("figure.chart svg")
    assert "indicator=online_payment" in page.url
    assert page.locator("figure.chart svg").count() == 1
    assert page.locator("table.data tbody tr").count() >= 3
    shot(page, "targets")


def test_upload_shows_progress_then_results(server, page, tmp_path):
    files = []
    for name, unit, marker in (("a.txt", "Phú An", "bảng tra cứu điện tử"), ("b.txt", "Phú Bình", "ki-ốt đánh giá")):
        f = tmp_path / name
        f.write_text(plan_text(unit, marker), encoding="utf-8")
        files.append(str(f))
    page.goto(server + "/upload")
    shot(page, "upload")
    page.set_input_files("input[name=files]", files)
    page.click("form.form button[type=submit]")
    page.wait_for_url("**/upload/jobs/*")
    page.wait_for_selector("text=Đã xong", timeout=180_000)  # app.js polls, then reloads
    assert page.locator("tr.st-added").count() == 2
    shot(page, "upload-done")
