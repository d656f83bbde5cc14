"""The page every HTML report shares: the document, its styles, plotly.js inline once, and sections.

:func:`page_html` wraps a report's body (the run report, :mod:`~tradebus.report.page`; the sweep report,
:mod:`~tradebus.report.sweep_page`) into one self-contained file: no stylesheet, script or font is fetched.
"""

from __future__ import annotations

import html
from collections.abc import Sequence


def section(heading: str, body: str) -> str:
    """A titled ``<section>`` (the heading escaped, ``body`` as given)."""
    return f"<section><h2>{html.escape(heading)}</h2>{body}</section>"


def page_html(title: str, script: str, body: Sequence[str]) -> str:
    """The whole document: ``title`` (escaped), ``script`` (plotly.js) inline in the head, the body's parts in order."""
    return _PAGE.format(title=html.escape(title), style=STYLE, script=script, body="\n".join(body))


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>{style}</style>
<script>{script}</script>
</head><body>
{body}
</body></html>
"""

STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 1180px; padding: 0 1em; color: #1f2328; }
h1 { font-size: 24px; margin-bottom: .3em; } h2 { border-bottom: 1px solid #d0d7de; padding-bottom: .2em; }
h3 { font-size: 14px; margin: .4em 0; color: #57606a; }
table { border-collapse: collapse; font-variant-numeric: tabular-nums; }
.facts th, .kv th { text-align: left; font-weight: 600; padding: 2px 16px 2px 0; vertical-align: top; }
.facts td, .kv td { padding: 2px 0; }
.groups { display: grid; grid-template-columns: repeat(auto-fit, minmax(340px, 1fr)); gap: 8px 24px; }
.group .kv { width: 100%; } .group .kv th { width: 62%; font-weight: 500; }
.group .kv td { text-align: right; padding-left: 12px; }
.group .kv tr { border-bottom: 1px solid #eaeef2; }
.grid { width: 100%; font-size: 13px; }
.grid th, .grid td { padding: 3px 6px; border-bottom: 1px solid #d0d7de; text-align: right; white-space: nowrap; }
.grid th { background: #f6f8fa; position: sticky; top: 0; }
.grid td.wrap { white-space: normal; text-align: left; min-width: 16em; }
.grid tr.untraded td { color: #57606a; background: #f6f8fa; }
.grid tr.pos td:last-child { color: #1a7f37; } .grid tr.neg td:last-child { color: #cf222e; }
.banner { background: #fff8c5; border: 1px solid #d4a72c; border-radius: 6px; padding: 10px 14px; margin: 1em 0;
  font-weight: 600; }
.note, .empty { color: #57606a; }
section { margin-top: 1.6em; }
a { color: #0969da; }
"""
"""The styles of every report page (inline in the head)."""
