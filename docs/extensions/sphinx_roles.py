"""A MkDocs hook for the API reference: show the Sphinx roles of our docstrings as plain code.

The docstrings are Google style but name other objects with Sphinx roles (``:class:`~framework.x.Y```,
``:meth:`run```), which mkdocstrings renders as ``:class:<code>~framework.x.Y</code>``. This hook
rewrites each rendered role as code: the target's last part when it starts with ``~`` (as Sphinx
shows it), else the target as written. Loaded by mkdocs.yml (``hooks``); nothing else imports it.
"""

from __future__ import annotations

import re
from typing import Any

_ROLE = re.compile(r":(?:class|mod|meth|func|data|attr|exc|obj):<code>(~?)([^<]+)</code>")


def _as_code(match: re.Match[str]) -> str:
    short, target = match.group(1), match.group(2)
    return f"<code>{target.rsplit('.', 1)[-1] if short else target}</code>"


def plain_roles(html: str) -> str:
    """Return ``html`` with every rendered Sphinx role written as plain inline code."""
    return _ROLE.sub(_as_code, html)


def on_page_content(html: str, **kwargs: Any) -> str:
    """MkDocs hook: rewrite the roles of one page's HTML."""
    return plain_roles(html)
