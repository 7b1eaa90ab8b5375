"""The report in a real browser: headless Chromium renders it, every image decodes, every section is there.

Uses Debian's ``chromium`` (``.ci/run`` installs it when missing). The report has no
script; the test adds a probe script to a *copy* that records, after the load event,
which images decoded (``naturalWidth > 0``) and which sections exist, and reads it back
with ``--dump-dom``. A screenshot of the unmodified report is checked for content.
"""
import json
import os
import re
import shutil
import subprocess

import numpy as np
import pytest
from PIL import Image

from vaelab.report.html import SECTIONS

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
PROBE = """<script>
window.addEventListener("load", () => {
  const images = Array.from(document.images);
  const probe = document.createElement("pre");
  probe.id = "vaelab-probe";
  probe.textContent = JSON.stringify({
    images: images.length,
    decoded: images.filter((im) => im.complete && im.naturalWidth > 0).length,
    broken: images.filter((im) => !(im.complete && im.naturalWidth > 0)).map((im) => im.alt),
    sections: Array.from(document.querySelectorAll("section")).map((s) => [s.id, s.dataset.status,
      s.querySelector("h2") ? s.querySelector("h2").textContent : ""]),
    height: document.documentElement.scrollHeight,
  });
  document.body.appendChild(probe);
});
</script>"""


def _chromium():
    found = os.environ.get("VAELAB_CHROMIUM") or next(filter(None, map(shutil.which, CANDIDATES)), None)
    if found is None:
        pytest.skip("headless Chromium is not installed (Debian: apt-get install chromium; .ci/run installs it "
                    "when it can), so the report cannot be checked in a browser here")  # fmt: skip
    return found


def _run(browser, tmp_path, *args, timeout=120):
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
             "--disable-background-networking", "--disable-extensions", "--hide-scrollbars", "--mute-audio",
             f"--user-data-dir={tmp_path / 'profile'}"]  # fmt: skip
    return subprocess.run([browser, *flags, *args], capture_output=True, text=True, timeout=timeout, check=True)


def test_report_renders_in_headless_chromium(full_run, tmp_path):
    browser = _chromium()
    html = (full_run / "report.html").read_text(encoding="utf-8")
    probe = tmp_path / "probe.html"
    probe.write_text(html.replace("</body>", PROBE + "\n</body>"), encoding="utf-8")
    dom = _run(browser, tmp_path, "--virtual-time-budget=10000", "--dump-dom", probe.as_uri()).stdout
    found = re.search(r'<pre id="vaelab-probe">(.*?)</pre>', dom, re.S)
    assert found, "the probe did not run: no load event in Chromium?\n" + dom[-2000:]
    result = json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">"))
    assert result["images"] >= 9
    assert result["decoded"] == result["images"], f"images that did not load: {result['broken']}"
    assert [(key, title) for key, _, title in result["sections"]] == list(SECTIONS)
    assert all(status == ("na" if key in ("tabular", "series") else "ok") for key, status, _ in result["sections"])

    # A screenshot of the report itself, tall enough for the whole page.
    shot = tmp_path / "report.png"
    height = min(int(result["height"]) + 50, 16000)
    _run(browser, tmp_path, f"--window-size=1280,{height}", f"--screenshot={shot}", (full_run / "report.html").as_uri())
    pixels = np.asarray(Image.open(shot).convert("L"), dtype=np.float32)
    assert pixels.shape == (height, 1280)
    assert pixels.std() > 10, "the screenshot is blank"
    # Dark image tiles (decoded digits) appear on the white page: the figures were painted.
    assert (pixels < 40).mean() > 0.005
