"""Open an HTML report in headless Chromium (Debian's `chromium`, installed by the test set-up):
a screenshot, and a probe of every SVG plot's drawn size and of script errors, from the DOM
the browser built.

The probe is a copy of the page with two small scripts added: one at the top of <head> that
collects uncaught errors, one at the end of <body> that measures each <svg> with getBBox()
(the box of what it draws: zero for an empty or unparsable plot) and writes the result into
the DOM, which `--dump-dom` prints. Console errors are also read from Chromium's log.
"""

from __future__ import annotations

import json
import re
import shutil
import struct
import subprocess
import zlib
from dataclasses import dataclass
from pathlib import Path

__all__ = ["chromium", "BrowserView", "open_in_browser", "png_stats"]

_HEAD = ("<script>window.__errors=[];window.addEventListener('error',function(e){window.__errors.push(String(e.message))});"
         "</script>")
_PROBE = """<script>(function(){var out=[];var svgs=document.querySelectorAll('svg');
for(var i=0;i<svgs.length;i++){var b=svgs[i].getBBox();
out.push({w:b.width,h:b.height,marks:svgs[i].querySelectorAll('path,rect,circle,line,polyline,polygon').length,
shown:svgs[i].getBoundingClientRect().width});}
var pre=document.createElement('pre');pre.id='advisor-probe';pre.textContent=JSON.stringify({svgs:out,errors:window.__errors});
document.body.appendChild(pre);})();</script>"""


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


@dataclass
class BrowserView:
    svgs: list[dict]  # per <svg>: w, h (getBBox of its content), marks (shape elements), shown (rendered width)
    errors: list[str]  # uncaught script errors
    console_errors: list[str]  # error lines from Chromium's console log
    screenshot: Path


def _flags(binary: str) -> list[str]:
    return [binary, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--hide-scrollbars",
            "--no-first-run", "--disable-extensions", "--enable-logging=stderr", "--v=0"]


def open_in_browser(page: Path, out_dir: Path, *, width: int = 1280, height: int = 2400,
                    timeout_s: float = 120.0) -> BrowserView:
    binary = chromium()
    if binary is None:
        raise RuntimeError("no chromium on PATH")
    out_dir.mkdir(parents=True, exist_ok=True)
    html = page.read_text(encoding="utf-8")
    probe = out_dir / "probe.html"
    probe.write_text(html.replace("<head>", "<head>" + _HEAD, 1).replace("</body>", _PROBE + "</body>", 1),
                     encoding="utf-8")
    dom = subprocess.run(_flags(binary) + ["--dump-dom", probe.as_uri()], capture_output=True, text=True,
                         timeout=timeout_s)
    found = re.search(r'<pre id="advisor-probe">(.*?)</pre>', dom.stdout, re.S)
    if found is None:
        raise RuntimeError(f"chromium gave no probe (exit {dom.returncode}): {dom.stderr[-2000:]}")
    data = json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&").replace("&lt;", "<")
                      .replace("&gt;", ">"))
    shot = out_dir / "report.png"
    snap = subprocess.run(_flags(binary) + [f"--screenshot={shot}", f"--window-size={width},{height}", page.as_uri()],
                          capture_output=True, text=True, timeout=timeout_s)
    if not shot.exists():
        raise RuntimeError(f"chromium wrote no screenshot (exit {snap.returncode}): {snap.stderr[-2000:]}")
    console = [ln for ln in (dom.stderr + snap.stderr).splitlines()
               if "CONSOLE" in ln and ("Uncaught" in ln or ":ERROR:" in ln or "error" in ln.lower())]
    return BrowserView(svgs=data["svgs"], errors=data["errors"], console_errors=console, screenshot=shot)


def png_stats(path: Path) -> tuple[int, int, float]:
    """(width, height, share of pixels that differ from the top-left pixel) of an 8-bit RGB or
    RGBA, non-interlaced PNG (what Chromium writes)."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, width = 8, b"", 0
    height = depth = ctype = interlace = 0
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, ctype, _, _, interlace = struct.unpack(">IIBBBBB", chunk)
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + length
    if depth != 8 or ctype not in (2, 6) or interlace:
        raise ValueError(f"unsupported PNG: depth {depth}, colour type {ctype}, interlace {interlace}")
    bpp = 3 if ctype == 2 else 4
    raw, stride = zlib.decompress(idat), width * bpp
    prev = bytearray(stride)
    background, differ = None, 0
    for y in range(height):
        f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for x in range(stride):
            a = line[x - bpp] if x >= bpp else 0
            b = prev[x]
            c = prev[x - bpp] if x >= bpp else 0
            if f == 1:
                line[x] = (line[x] + a) & 255
            elif f == 2:
                line[x] = (line[x] + b) & 255
            elif f == 3:
                line[x] = (line[x] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        if background is None:
            background = bytes(line[:3])
        differ += sum(1 for x in range(0, stride, bpp) if bytes(line[x:x + 3]) != background)
        prev = line
    return width, height, differ / (width * height)
