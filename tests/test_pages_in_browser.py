"""The HTML reports and the documentation site render in a real browser: every image loads,
no console error (headless Chromium, Debian package ``chromium``; skipped without it)."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("check_html", ROOT / "scripts" / "check_html.py")
check_html = importlib.util.module_from_spec(_spec)
sys.modules["check_html"] = check_html  # its dataclass looks its module up
_spec.loader.exec_module(check_html)
BROWSER = check_html.chromium()
pytestmark = pytest.mark.skipif(BROWSER is None, reason="no Chromium (apt-get install chromium)")


def _rendered(page: Path):
    """What headless Chromium saw: images, broken images, console errors."""
    return check_html.check_page(page, BROWSER)


def test_the_probe_catches_a_broken_image_and_a_console_error(tmp_path):
    page = tmp_path / "bad.html"
    page.write_text('<html><head></head><body><img src="missing.png">'
                    '<script>console.error("boom")</script></body></html>')
    result = check_html.check_page(page, BROWSER)
    assert result.broken == 1 and "console.error: boom" in result.console_errors
    assert not result.ok


def test_hunt_and_tagging_reports_render(tmp_path):
    from aihep.discovery.hunt import HuntConfig, hunt
    from aihep.report.hunt import write_hunt_report
    from aihep.report.tagging import write_tagger_report
    from aihep.tagging.metrics import tagger_metrics

    sys.path.insert(0, str(ROOT / "tests" / "agent"))
    from toy import toy_table

    table = toy_table(12000, 300, 5)
    config = HuntConfig(methods=("cwola",), signal_region_gev=(3300.0, 3700.0),
                        keep_fraction=0.05, n_folds=2, n_toys=20,
                        refine=False, classifier={"n_ensemble": 1, "max_iter": 40})
    result = hunt(table, config)
    write_hunt_report(tmp_path / "hunt.html", result, None)
    hunt_page = _rendered(tmp_path / "hunt.html")
    assert hunt_page.images >= 4 and hunt_page.broken == 0
    assert hunt_page.console_errors == ()

    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, 600)
    probs = rng.dirichlet(np.ones(3), 600) + np.eye(3)[labels]
    probs /= probs.sum(1, keepdims=True)
    metrics = tagger_metrics(probs, labels, ("QCD", "Wqq", "Tbqq"))
    write_tagger_report(tmp_path / "tagger.html", metrics, probs, labels, "toy tagger")
    tagger_page = _rendered(tmp_path / "tagger.html")
    assert tagger_page.images >= 2 and tagger_page.broken == 0
    assert tagger_page.console_errors == ()


@pytest.mark.skipif(shutil.which("mkdocs", path=str(Path(sys.executable).parent)) is None,
                    reason="mkdocs not installed")
def test_documentation_index_renders(tmp_path):
    mkdocs = shutil.which("mkdocs", path=str(Path(sys.executable).parent))
    subprocess.run([mkdocs, "build", "-q", "-d", str(tmp_path / "site")], cwd=ROOT, check=True,
                   env={**os.environ, "NO_MKDOCS_2_WARNING": "1"}, timeout=300)
    index = _rendered(tmp_path / "site" / "index.html")
    assert index.images >= 0 and index.console_errors == ()
    for page in ("discovery", "tagging"):  # each holds a report screenshot
        shown = _rendered(tmp_path / "site" / page / "index.html")
        assert shown.images >= 1 and shown.broken == 0 and shown.console_errors == ()
