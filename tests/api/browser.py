"""Debian's headless chromium driven by Selenium through Debian's chromium-driver (nothing is
downloaded: the browser and the driver are the system's; Selenium Manager is not used)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from testkit import missing_server

CHROMIUM = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
DRIVER = ("/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver")
INSTALL = "apt-get install chromium chromium-driver (Debian's packages)"


def _first(paths: tuple[str, ...], name: str) -> str | None:
    found = next((p for p in paths if Path(p).is_file()), None)
    return found or shutil.which(name)


def chromium(width: int = 1400, height: int = 1100) -> Any:
    """A headless Chromium WebDriver; a missing browser is a missing server (skip locally, fail
    on CI)."""
    binary, driver = _first(CHROMIUM, "chromium"), _first(DRIVER, "chromedriver")
    if binary is None or driver is None:
        missing_server(f"chromium or chromium-driver is not installed: {INSTALL}")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = binary
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                f"--window-size={width},{height}", "--disable-extensions", "--no-first-run"):
        opts.add_argument(arg)
    return webdriver.Chrome(service=Service(executable_path=driver), options=opts)
