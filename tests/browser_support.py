"""The browser suite's Chromium: Debian's `chromium` package, driven by Playwright (no browser download)."""

from __future__ import annotations

import os
import shutil

# Quiet and self-contained: no sandbox (CI runs as root), no GPU, nothing fetched in the background.
CHROMIUM_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)
NO_CHROMIUM = "browser suite: no Chromium found (apt-get install chromium), its tests are deselected"


def chromium_path() -> str | None:
    """`CHROMIUM` if set, else `chromium` on PATH (Debian's /usr/bin/chromium)."""
    return os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
