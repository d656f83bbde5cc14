"""The site's MkDocs hook shows the Sphinx roles of rendered docstrings as plain code."""

from __future__ import annotations

import importlib.util
from pathlib import Path

HOOK = Path(__file__).resolve().parents[2] / "docs" / "extensions" / "sphinx_roles.py"


def test_rendered_roles_become_code_short_with_a_tilde() -> None:
    spec = importlib.util.spec_from_file_location("sphinx_roles", HOOK)
    assert spec is not None
    assert spec.loader is not None
    hook = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hook)
    html = ("see :mod:<code>framework.supervision</code> and :class:<code>~framework.context.StrategyContext</code>"
            "; :meth:<code>Engine.add_strategy</code>; not a role: <code>x</code>")
    assert hook.on_page_content(html) == (
        "see <code>framework.supervision</code> and <code>StrategyContext</code>"
        "; <code>Engine.add_strategy</code>; not a role: <code>x</code>"
    )
