"""Check a Snakemake report: it opens in headless Chromium and no image is broken.

    python tests/tools/check_report.py report.html [--expect "Quality control" ...]

1. Every image embedded in the report (``data:image/...;base64,`` URIs, also inside
   the report's JavaScript data) decodes, and no image points outside the file (a
   report must be self-contained).
2. Headless Chromium loads the report, runs its JavaScript and renders a page whose
   text names the expected categories (``--expect``; default: the run record and
   quality control).
3. Headless Chromium decodes every embedded image in a probe page
   (``naturalWidth > 0``), which catches images a browser cannot show even when
   their bytes look fine.

Exits 1 with the reasons when a check fails. Needs ``chromium`` (Debian:
``apt-get install chromium``) or ``--chromium PATH``.
"""

from __future__ import annotations

import argparse
import base64
import html
import io
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

# Snakemake writes e.g. "data:image/png;charset=utf8;filename=qc.png;base64,iVBOR..."
DATA_URI = re.compile(r"data:(image/[a-z0-9.+-]+)[^,\"'\s]*?;base64,([A-Za-z0-9+/=]+)")
IMG_SRC = re.compile(r"<img[^>]+src=[\"']([^\"']+)[\"']", re.I)


def find_chromium(given: str | None) -> str:
    for name in [given] if given else ["chromium", "chromium-browser", "google-chrome"]:
        path = shutil.which(name) if name else None
        if path:
            return path
    sys.exit("no chromium found: apt-get install chromium, or give --chromium PATH")


def headless(chromium: str, url: str, budget_ms: int = 30000) -> str:
    """The DOM after Chromium has loaded ``url`` and run its scripts."""
    cmd = [
        chromium,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        f"--virtual-time-budget={budget_ms}",
        "--dump-dom",
        url,
    ]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=budget_ms / 1000 + 90)
    if res.returncode != 0:
        raise RuntimeError(f"chromium failed ({res.returncode}): {res.stderr[-2000:]}")
    return res.stdout


def embedded_images(text: str) -> list[tuple[str, bytes]]:
    """(mime type, bytes) of every base64 image URI in the file (JSON-escaped or not)."""
    text = text.replace("\\/", "/")
    out = []
    for mime, b64 in DATA_URI.findall(text):
        try:
            out.append((mime, base64.b64decode(b64 + "=" * (-len(b64) % 4))))
        except ValueError:
            out.append((mime, b""))
    return out


def check(report: Path, chromium: str, expect: list[str]) -> list[str]:
    problems = []
    text = report.read_text(errors="replace")
    images = embedded_images(text)

    # 1. decodable, self-contained
    from PIL import Image

    for i, (mime, data) in enumerate(images):
        if mime == "image/svg+xml":
            if b"<svg" not in data[:2000]:
                problems.append(f"image {i} ({mime}) is not an SVG")
            continue
        try:
            with Image.open(io.BytesIO(data)) as im:
                im.verify()
        except Exception as e:  # noqa: BLE001 - any decoding failure is a broken image
            problems.append(f"image {i} ({mime}, {len(data)} bytes) does not decode: {e}")
    for src in IMG_SRC.findall(text):
        if not src.startswith(("data:", "#")) and "{" not in src:
            problems.append(f"image outside the report: {src}")

    # 2. Chromium renders the report
    dom = headless(chromium, report.resolve().as_uri())
    body = re.sub(r"<(script|style)\b.*?</\1>", " ", dom, flags=re.S | re.I)
    visible = html.unescape(re.sub(r"<[^>]+>", " ", body))
    if len(visible.split()) < 20:
        problems.append("chromium rendered an (almost) empty page")
    for word in expect:
        if word.lower() not in visible.lower():
            problems.append(f"the rendered report does not mention '{word}'")
    for src in IMG_SRC.findall(body):
        if not src.startswith(("data:", "blob:")):
            problems.append(f"rendered image outside the report: {src[:80]}")

    # 3. Chromium decodes every embedded image
    if images:
        with tempfile.TemporaryDirectory() as tmp:
            probe = Path(tmp) / "probe.html"
            tags = "".join(
                f'<img id="i{i}" src="data:{m};base64,{base64.b64encode(d).decode()}">'
                for i, (m, d) in enumerate(images)
            )
            script = (
                "<script>window.onload=function(){var bad=[];"
                "document.querySelectorAll('img').forEach(function(im){"
                "if(!im.complete||im.naturalWidth===0)bad.push(im.id)});"
                "document.getElementById('r').textContent='BROKEN:'+bad.join(',')+':END';};"
                "</script>"
            )
            probe.write_text(f"<html><body><p id='r'>PENDING</p>{tags}{script}</body></html>")
            dom = headless(chromium, probe.as_uri(), budget_ms=15000)
            m = re.search(r"BROKEN:([^:]*):END", dom)
            if not m:
                problems.append("the image probe page did not finish in chromium")
            elif m.group(1):
                problems.append(f"chromium cannot show images {m.group(1)}")
    print(f"{report}: {len(images)} embedded images, {len(visible.split())} words rendered")
    return problems


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("report", type=Path)
    ap.add_argument("--chromium", default=None)
    ap.add_argument("--expect", nargs="*", default=["Run record", "Quality control"])
    ap.add_argument("--min-images", type=int, default=1)
    args = ap.parse_args()
    chromium = find_chromium(args.chromium)
    problems = check(args.report, chromium, args.expect)
    n = len(embedded_images(args.report.read_text(errors="replace")))
    if n < args.min_images:
        problems.append(f"{n} embedded images, expected at least {args.min_images}")
    for p in problems:
        print("FAIL:", p)
    if problems:
        sys.exit(1)
    print("report OK")


if __name__ == "__main__":
    main()
