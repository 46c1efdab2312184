"""Regenerate docs/dashboard.png: the bundled data set, a few goals and a commission plan, the
dashboard served by uvicorn on loopback, photographed by Debian's headless chromium (Selenium
through chromium-driver). Run through scripts/dashboard-screenshot."""

from __future__ import annotations

import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import uvicorn
from attain.core import Engine, Store, get_plugins
from attain.plugins.api.app import create_app
from attain.plugins.api.tokens import TokenStore
from attain.plugins.goals import GoalService
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "dashboard.png"
GOALS = [("company-2017-q4", "company", "4000000"), ("central-2017-q4", "region:Central", "1400000"),
         ("east-2017-q4", "region:East", "1300000"), ("west-2017-q4", "region:West", "1500000")]


def attain(url: str, *args: str) -> None:
    subprocess.run([sys.executable, "-m", "attain.core.cli", "--db", url, *args], check=True,
                   stdout=subprocess.DEVNULL)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/demo.db"
        attain(url, "import", "crm-csv", str(ROOT / "core" / "data" / "crm-sales-opportunities"), "-q")
        attain(url, "commission", "run", "--period", "2017-Q4", "--plan",
               str(ROOT / "examples" / "plans" / "flat-rate.yaml"))
        store = Store(url)
        engine = Engine(store, get_plugins())
        goals = GoalService(engine, "default")
        for gid, owner, target in GOALS:
            goals.add({"id": gid, "metric": "won_revenue", "owner": owner, "period": "2017-Q4",
                       "target": target})
        token, _ = TokenStore(store.engine).create("default", "admin", note="screenshot")
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        server = uvicorn.Server(uvicorn.Config(create_app(engine), host="127.0.0.1", port=port,
                                               log_level="warning", lifespan="off"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.05)
        opts = webdriver.ChromeOptions()
        opts.binary_location = "/usr/bin/chromium"
        for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1500"):
            opts.add_argument(arg)
        driver = webdriver.Chrome(service=Service(executable_path="/usr/bin/chromedriver"), options=opts)
        try:
            driver.get(f"http://127.0.0.1:{port}/#token={token}")
            WebDriverWait(driver, 60).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#leaderboard tbody tr"))
            driver.find_element(By.ID, "f-region").send_keys("Central")
            driver.find_element(By.ID, "st-rep").send_keys("Darcel Schlecht")
            driver.find_element(By.ID, "st-period").send_keys("2017-Q4")
            driver.find_element(By.CSS_SELECTOR, "#st-form button").click()
            WebDriverWait(driver, 60).until(lambda d: d.find_elements(By.CSS_SELECTOR, "[data-testid=st-total]"))
            time.sleep(1)  # the chart's and bars' first paint
            height = driver.execute_script("return document.body.scrollHeight")
            driver.set_window_size(1400, min(int(height) + 40, 2000))
            driver.save_screenshot(str(OUT))
        finally:
            driver.quit()
            server.should_exit = True
            thread.join(timeout=30)
            store.dispose()
    print(f"wrote {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
