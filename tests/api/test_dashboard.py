"""The dashboard in a real headless Chromium (Debian's): the numbers on the page are the API's,
an event published to the API changes the page without a reload, a rep's token shows no peer."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx
import pytest
from attain.testing.builders import deal
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from api.apikit import Api, LiveServer, exact, ndjson
from api.browser import chromium

WAIT = 30  # seconds at most for the page to show something (a bound, never an assertion)


@pytest.fixture
def live(sqlite_api: Api) -> Iterator[tuple[Api, LiveServer, Any]]:
    driver = chromium()
    stopped = False
    try:
        with LiveServer(sqlite_api.client.app) as server:
            try:
                yield sqlite_api, server, driver
            finally:  # the browser first: its open live stream kept the server's graceful
                driver.quit()  # shutdown waiting (30 s a test, measured)
                stopped = True
    finally:
        if not stopped:
            driver.quit()


READ_BOARD = """
return [...document.querySelectorAll('#leaderboard tbody tr')].map(tr => [tr.dataset.rep,
  [...tr.querySelectorAll('td[data-field]')].map(td => [td.dataset.field, td.dataset.value])]);
"""


def board(driver: Any) -> dict[str, dict[str, Decimal]]:
    """The leaderboard's rows as the page holds them (read in one script: the page may re-render)."""
    return {rep: {f: Decimal(v or "0") for f, v in cells} for rep, cells in driver.execute_script(READ_BOARD)}


def open_board(driver: Any, server: LiveServer, token: str) -> None:
    driver.get(f"{server.url}/#token={token}")
    WebDriverWait(driver, WAIT).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#leaderboard tbody tr"))
    WebDriverWait(driver, WAIT).until(lambda d: "on" in d.find_element(By.ID, "live").get_attribute("class"))


def test_the_page_shows_the_apis_numbers_and_follows_new_events(live: Any) -> None:
    api, server, driver = live
    open_board(driver, server, api.tokens["admin"])
    assert "#token" not in driver.current_url           # the token left the address bar
    api_rows = {r["key"]: r for r in exact(api.get("/api/v1/kpis?by=rep", "admin").content)}
    page = board(driver)
    assert list(page) == ["Cid", "Ann", "Bob"]           # by won revenue, as the API sorts them
    for rep, shown in page.items():
        for field, value in shown.items():
            assert value == Decimal(str(api_rows[rep][field] if api_rows[rep][field] is not None else 0)), (rep, field)
    assert Decimal(driver.find_element(By.ID, "t-won").get_attribute("data-value")) == sum(
        r["won_revenue"] for r in api_rows.values())
    stages = dict(driver.execute_script(
        "return [...document.querySelectorAll('#funnel .stage')].map(e => [e.dataset.stage,"
        " e.querySelector('.num').textContent])"))
    assert stages == {"Engaging": "2", "Prospecting": "1"}

    # an event through the API: Bob wins 5000 and moves to the top without a reload
    marker = driver.execute_script("window.__same_page = true; return 1")
    body = ndjson([deal("W1", owner="Bob", status="won", amount="5000", event_id="w1")])
    r = httpx.post(f"{server.url}/api/v1/events", headers=api.auth("service"), content=body, timeout=30)
    assert r.status_code == 200 and exact(r.content)["accepted"] == 1
    WebDriverWait(driver, WAIT).until(lambda d: list(board(d))[:1] == ["Bob"])
    assert board(driver)["Bob"]["won_revenue"] == 5250   # B1 250 + W1 5000
    assert marker == 1 and driver.execute_script("return window.__same_page === true")


def test_a_rep_sees_only_their_own_figures(live: Any) -> None:
    api, server, driver = live
    open_board(driver, server, api.tokens["ann"])
    assert list(board(driver)) == ["Ann"]
    assert board(driver)["Ann"]["won_revenue"] == Decimal("1000.50")
    options = [o.text for o in driver.find_elements(By.CSS_SELECTOR, "#st-rep option")]
    assert options == ["Ann"]
    text = driver.find_element(By.TAG_NAME, "main").text
    assert "Bob" not in text and "Cid" not in text and "4,000" not in text
    # a peer's event reaches the page as a refresh, never as the peer's row
    body = ndjson([deal("W2", owner="Cid", status="won", amount="7", event_id="w2"),
                   deal("W3", owner="Ann", status="won", amount="9.50", event_id="w3")])
    assert httpx.post(f"{server.url}/api/v1/events", headers=api.auth("service"), content=body,
                      timeout=30).status_code == 200
    WebDriverWait(driver, WAIT).until(lambda d: board(d).get("Ann", {}).get("won_revenue") == Decimal("1010"))
    assert list(board(driver)) == ["Ann"]


def test_a_bad_token_asks_to_sign_in(live: Any) -> None:
    api, server, driver = live
    driver.get(f"{server.url}/#token=attain_0000000000000000_nottherightsecretatall")
    WebDriverWait(driver, WAIT).until(lambda d: d.find_element(By.ID, "signin-error").text)
    assert "not valid" in driver.find_element(By.ID, "signin-error").text
    assert not driver.find_element(By.ID, "board").is_displayed()
