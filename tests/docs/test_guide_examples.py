"""Every code block of the guide and the getting-started page runs, so the docs cannot drift from the code.

The rules (docs/guide/index.md tells authors the same):

* A ```python block runs. The blocks of one page run in order in one namespace, as in a notebook, so
  a strategy defined in one block is used by the next; each page starts afresh, in an empty folder.
  Errors point at the page and line (the code is compiled with the page's line numbers).
* A ```bash block runs line by line; each line must be a ``tradebus`` command (run with the installed
  ``tradebus`` script next to this Python) and exit 0.
* A ```toml block must parse, and its ``[risk]`` section must be valid risk limits.
* A block right after a ``<!-- fragment -->`` line is a deliberate fragment: a python fragment must
  still compile; other fragments (install commands, the live CLI) are shown only. Keep them rare.
* Any other block (no language, ```text, ...) fails the test: say what it is, or mark it.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest

from framework.risk import RiskConfig

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
PAGES = [DOCS / "getting-started.md", *sorted((DOCS / "guide").glob("*.md"))]
FRAGMENT = "<!-- fragment -->"
MAX_FRAGMENTS = 4  # across all the pages: fragments are the exception
_FENCE = re.compile(r"^```([^\n`]*)\n(.*?)^```[ \t]*$", re.DOTALL | re.MULTILINE)


@dataclass(frozen=True)
class Block:
    """One fenced code block of a page."""

    page: Path
    line: int  # of the block's first code line, 1-based
    language: str
    code: str
    fragment: bool

    @property
    def name(self) -> str:
        return str(self.page.relative_to(ROOT)) if self.page.is_relative_to(ROOT) else str(self.page)

    @property
    def where(self) -> str:
        return f"{self.name}:{self.line}"


def blocks(page: Path) -> list[Block]:
    text = page.read_text(encoding="utf-8")
    found = []
    for match in _FENCE.finditer(text):
        before = text[: match.start()].rstrip("\n").rsplit("\n", 1)[-1].strip()
        line = text.count("\n", 0, match.start(2)) + 1
        found.append(Block(page, line, match.group(1).strip(), match.group(2), before == FRAGMENT))
    return found


def run_python(block: Block, namespace: dict[str, object]) -> None:
    # pad with blank lines so a traceback names the line of the page
    code = compile("\n" * (block.line - 1) + block.code, block.name, "exec", dont_inherit=True)  # as a script
    if not block.fragment:
        exec(code, namespace)


def run_bash(block: Block) -> None:
    tradebus = Path(sys.executable).with_name("tradebus")
    for line in block.code.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        words = shlex.split(line, comments=True)
        assert words[0] == "tradebus", f"{block.where}: only tradebus commands run here, not {line!r}"
        done = subprocess.run([str(tradebus), *words[1:]], capture_output=True, text=True, timeout=120,
                              check=False)
        assert done.returncode == 0, f"{block.where}: {line!r} exited {done.returncode}\n{done.stdout}{done.stderr}"


def run_block(block: Block, namespace: dict[str, object]) -> None:
    if block.language == "python":
        run_python(block, namespace)
    elif block.fragment:
        return
    elif block.language == "bash":
        run_bash(block)
    elif block.language == "toml":
        settings = tomllib.loads(block.code)
        if "risk" in settings:  # a [risk] section must be one the run would accept
            RiskConfig.model_validate(settings["risk"])
    else:
        pytest.fail(f"{block.where}: a ```{block.language} block is neither run nor marked {FRAGMENT}")


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(DOCS)))
def test_every_block_of_the_page_runs(page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # examples that write files write them here
    page_blocks = blocks(page)
    assert any(b.language == "python" and not b.fragment for b in page_blocks), f"{page.name} shows no example"
    namespace: dict[str, object] = {"__name__": f"__guide_{page.stem.replace('-', '_')}__"}
    for block in page_blocks:
        run_block(block, namespace)


def test_fragments_are_rare_and_marked_right_before_a_block() -> None:
    fragments = [b.where for page in PAGES for b in blocks(page) if b.fragment]
    assert len(fragments) <= MAX_FRAGMENTS, f"too many fragments: {fragments}"
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        marks = sum(line.strip() == FRAGMENT for line in text.splitlines())  # a mark is a line of its own
        assert marks == sum(b.fragment for b in blocks(page)), f"{page.name}: a {FRAGMENT} mark is not before a block"


def test_the_block_reader_finds_fragments_and_line_numbers_and_fragments_must_compile(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("# t\n\n```python\nx = 1\n```\n\n<!-- fragment -->\n```python\ny(\n```\n", encoding="utf-8")
    first, second = blocks(page)
    assert (first.line, first.code, first.fragment) == (4, "x = 1\n", False)
    assert (second.line, second.fragment) == (9, True)
    namespace: dict[str, object] = {}
    run_python(first, namespace)
    assert namespace["x"] == 1
    with pytest.raises(SyntaxError) as caught:
        run_python(second, namespace)
    assert caught.value.lineno == 9
