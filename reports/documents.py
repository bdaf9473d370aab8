"""Markdown and self-contained HTML serialisations of the report document."""

from __future__ import annotations

import re
from html import escape
from pathlib import Path

from advisor.evaluation.record import RunRecord
from reports.data import gather
from reports.document import Block, build_document
from reports.examples import DEFAULT_EXAMPLES

__all__ = ["render_markdown", "render_html", "to_markdown", "to_html"]


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def to_markdown(blocks: list[Block]) -> str:
    out: list[str] = []
    for b in blocks:
        if b.kind == "h1":
            out.append(f"# {b.text}\n")
        elif b.kind == "h2":
            out.append(f"## {b.text}\n")
        elif b.kind == "p":
            out.append(b.text + "\n")
        elif b.kind == "ul":
            out.append("\n".join(f"- {item}" for item in b.items or []) + "\n")
        elif b.kind == "table":
            out.append("| " + " | ".join(_md_cell(h) for h in b.headers or []) + " |")
            out.append("|" + "|".join("---" for _ in b.headers or []) + "|")
            out += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in b.rows or []]
            out.append("")
        elif b.kind == "svg":
            out.append(f"_{b.text}: see the HTML report._\n")
    return "\n".join(out).rstrip() + "\n"


_BOLD = re.compile(r"\*\*(.+?)\*\*")
_CODE = re.compile(r"`([^`]+)`")
_EM = re.compile(r"(?<![\w*])_(.+?)_(?![\w*])")


def _inline(text: str) -> str:
    html = escape(text)
    html = _BOLD.sub(r"<strong>\1</strong>", html)
    html = _CODE.sub(r"<code>\1</code>", html)
    return _EM.sub(r"<em>\1</em>", html)


_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#111827;line-height:1.45}
h1{font-size:1.6em;border-bottom:2px solid #2563eb;padding-bottom:.2em}h2{font-size:1.25em;margin-top:1.6em;color:#1e3a8a}
table{border-collapse:collapse;margin:.6em 0;font-size:.9em}th,td{border:1px solid #d1d5db;padding:.3em .6em;text-align:left;vertical-align:top}
th{background:#eff6ff}tr:nth-child(even) td{background:#f9fafb}code{background:#f3f4f6;padding:0 .25em;border-radius:3px}
figure{margin:1em 0}figcaption{font-size:.9em;color:#4b5563}.rec{background:#ecfdf5;border-left:4px solid #16a34a;padding:.6em 1em}
"""


def to_html(blocks: list[Block], title: str) -> str:
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           f"<title>{escape(title)}</title>", f"<style>{_CSS}</style></head><body>"]
    in_rec = False
    for b in blocks:
        if b.kind in ("h1", "h2") and in_rec:
            out.append("</div>")
            in_rec = False
        if b.kind == "h1":
            out.append(f"<h1>{_inline(b.text)}</h1>")
        elif b.kind == "h2":
            out.append(f"<h2>{_inline(b.text)}</h2>")
            if b.text == "Recommendation":
                out.append('<div class="rec">')
                in_rec = True
        elif b.kind == "p":
            out.append(f"<p>{_inline(b.text)}</p>")
        elif b.kind == "ul":
            out.append("<ul>" + "".join(f"<li>{_inline(i)}</li>" for i in b.items or []) + "</ul>")
        elif b.kind == "table":
            out.append("<table><thead><tr>" + "".join(f"<th>{_inline(h)}</th>" for h in b.headers or [])
                       + "</tr></thead><tbody>"
                       + "".join("<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in row) + "</tr>" for row in b.rows or [])
                       + "</tbody></table>")
        elif b.kind == "svg":
            out.append(f"<figure>{b.svg}<figcaption>{_inline(b.text)}</figcaption></figure>")
    if in_rec:
        out.append("</div>")
    out.append("</body></html>")
    return "\n".join(out) + "\n"


def render_markdown(record: RunRecord, run_dir: Path | None = None, console=None, examples: int = DEFAULT_EXAMPLES) -> str:
    return to_markdown(build_document(gather(record, run_dir, examples)))


def render_html(record: RunRecord, run_dir: Path | None = None, console=None, examples: int = DEFAULT_EXAMPLES) -> str:
    return to_html(build_document(gather(record, run_dir, examples), plots=True), f"advisor report: {record.task.name}")
