"""Open HTML pages in headless Chromium: every image must load, no console error may occur.

Usage: python scripts/check_html.py PAGE.html [PAGE.html ...] [--screenshot-dir DIR]

Each page is copied next to itself with a small script appended that, after the page's load
event, counts the images that failed to decode and records the count in the DOM; Chromium
(Debian package ``chromium``) dumps that DOM and logs console messages to stderr. With
``--screenshot-dir`` a 1300 px wide PNG of each page is written there too. Prints one line
per page; exit status 1 when any page fails, 2 when Chromium is missing.
"""

from __future__ import annotations

import argparse
import html
import json
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

PROBE = """<script>
window.aihepErrors = [];
const aihepConsoleError = console.error;
console.error = (...args) => { window.aihepErrors.push("console.error: " + args.join(" "));
                               aihepConsoleError(...args); };
window.addEventListener("error", (e) => window.aihepErrors.push(
  e.message ? "uncaught: " + e.message : "failed to load: " + (e.target.src || e.target.href)),
  true);
window.addEventListener("unhandledrejection", (e) => window.aihepErrors.push(
  "unhandled rejection: " + e.reason));
window.addEventListener("load", () => setTimeout(() => {
  const images = Array.from(document.images);
  const bad = images.filter((i) => !i.complete || i.naturalWidth === 0).length;
  const root = document.documentElement;
  root.setAttribute("data-aihep-images", images.length + "/" + bad);
  root.setAttribute("data-aihep-errors", JSON.stringify(window.aihepErrors));
}, 500));
</script>"""
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
         "--virtual-time-budget=10000", "--run-all-compositor-stages-before-draw"]


@dataclass(frozen=True)
class PageCheck:
    page: Path
    images: int
    broken: int
    console_errors: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return self.images >= 0 and self.broken == 0 and not self.console_errors


def chromium() -> str | None:
    return next((p for p in map(shutil.which, ("chromium", "chromium-browser",
                                                "google-chrome")) if p), None)


def check_page(page: Path, browser: str, screenshot: Path | None = None) -> PageCheck:
    """Load ``page`` (with its relative assets) in headless Chromium and check it."""
    page = page.resolve()
    with tempfile.NamedTemporaryFile("w", suffix=".html", dir=page.parent,
                                     prefix=".check-", delete=False) as probe:
        text = page.read_text(encoding="utf-8")
        # first thing in the document, so errors of the page's own scripts are caught
        head = re.search(r"<head[^>]*>", text, re.IGNORECASE)
        at = head.end() if head else 0
        probe.write(text[:at] + PROBE + text[at:])
    probe_path = Path(probe.name)
    try:
        run = subprocess.run([browser, *FLAGS, "--enable-logging=stderr", "--v=0",
                              "--dump-dom", probe_path.as_uri()],
                             capture_output=True, text=True, timeout=120)
        if screenshot is not None:
            screenshot.parent.mkdir(parents=True, exist_ok=True)
            subprocess.run([browser, *FLAGS, "--window-size=1300,1600",
                            f"--screenshot={screenshot}", page.as_uri()],
                           capture_output=True, text=True, timeout=120)
    finally:
        probe_path.unlink(missing_ok=True)
    found = re.search(r'data-aihep-images="(\d+)/(\d+)"', run.stdout)
    images, broken = (int(found[1]), int(found[2])) if found else (-1, -1)
    recorded = re.search(r'data-aihep-errors="([^"]*)"', run.stdout)
    errors = tuple(json.loads(html.unescape(recorded[1]))) if recorded else (
        "the page did not finish loading",)
    return PageCheck(page, images, broken, errors)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pages", nargs="+", type=Path)
    parser.add_argument("--screenshot-dir", type=Path)
    args = parser.parse_args()
    browser = chromium()
    if browser is None:
        print("error: no Chromium found (apt-get install chromium)", file=sys.stderr)
        return 2
    failed = 0
    for page in args.pages:
        if not page.is_file():
            print(f"error: {page}: no such HTML file", file=sys.stderr)
            return 2
        shot = args.screenshot_dir / (page.stem + ".png") if args.screenshot_dir else None
        result = check_page(page, browser, shot)
        status = "ok" if result.ok else "FAIL"
        print(f"{status} {page}: {result.images} images, {result.broken} broken, "
              f"{len(result.console_errors)} console errors"
              + "".join(f"\n    {e}" for e in result.console_errors))
        failed += not result.ok
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
