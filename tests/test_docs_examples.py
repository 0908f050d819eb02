"""The code examples of the docs pages run as written, and the outputs they state hold.

Every ```` ```python ```` block of a page runs, in page order, in one namespace per page,
except a block right after the line ``<!-- illustrative -->`` (pseudocode, or a run too
large for the tests; the page says which). A stated output is an expression statement
followed by a comment holding a Python literal, on its last line or alone on the next
line, optionally after a label: ``x.shape  # (1000, 320)``, ``# Hz: {'E': 3.5}``. The
expression must equal the literal (a float to the digits it is written with).
"""

import ast
import io
import re
import tokenize
from pathlib import Path

import numpy as np
import pytest

DOCS = Path(__file__).parents[1] / "docs"
PAGES = sorted(
    p for p in DOCS.rglob("*.md") if "api" not in p.parts and "```python" in p.read_text()
)
BLOCK = re.compile(r"(<!-- illustrative -->\n)?```python\n(.*?)```", re.S)


def blocks(page: Path) -> list[str]:
    return [code for marker, code in BLOCK.findall(page.read_text()) if not marker]


def _comments(code: str) -> dict[int, str]:
    tokens = tokenize.generate_tokens(io.StringIO(code).readline)
    return {t.start[0]: t.string[1:].strip() for t in tokens if t.type == tokenize.COMMENT}


def stated_outputs(code: str) -> list[tuple[ast.stmt, object | None]]:
    """The block's statements, each with the literal its line states (or None)."""
    comments, lines = _comments(code), code.splitlines()
    out = []
    for stmt in ast.parse(code).body:
        expected = None
        if isinstance(stmt, ast.Expr):
            after = stmt.end_lineno + 1
            alone = after <= len(lines) and lines[after - 1].lstrip().startswith("#")
            text = comments.get(stmt.end_lineno) or (comments.get(after) if alone else None)
            expected = _literal(text)
        out.append((stmt, expected))
    return out


def _literal(text: str | None):
    """``(value,)`` of the literal in a comment (after an optional ``label:``)."""
    if text is None:
        return None
    for candidate in (text, text.split(": ", 1)[-1]):
        try:
            return (ast.literal_eval(candidate),)
        except (ValueError, SyntaxError):
            continue
    return None


def _matches(value, expected, text: str) -> bool:
    if isinstance(expected, dict):
        return value.keys() == expected.keys() and all(
            _matches(value[k], v, text) for k, v in expected.items()
        )
    if isinstance(expected, tuple | list):
        return len(value) == len(expected) and all(
            _matches(a, b, text) for a, b in zip(value, expected, strict=True)
        )
    if isinstance(expected, float):
        digits = len(repr(expected).split(".")[1]) if "." in repr(expected) else 0
        return abs(float(value) - expected) <= 0.5 * 10.0**-digits
    return value == expected


def run_page(page: Path, namespace: dict) -> int:
    """Run the page's blocks; returns the number of stated outputs checked."""
    checked = 0
    for code in blocks(page):
        for stmt, expected in stated_outputs(code):
            if expected is None:
                exec(compile(ast.Module([stmt], []), str(page), "exec"), namespace)
                continue
            value = eval(compile(ast.Expression(stmt.value), str(page), "eval"), namespace)
            text = ast.get_source_segment(code, stmt)
            assert _matches(value, expected[0], text), f"{page.name}: {text} is {value!r}"
            checked += 1
    return checked


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(DOCS)) for p in PAGES])
def test_docs_page_examples_run(page, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    run_page(page, {"__name__": "docs_example"})


def test_stated_outputs_are_checked(tmp_path):
    """The checker itself: a right stated output passes, a wrong one fails."""
    page = tmp_path / "page.md"
    right = (
        "x = np.arange(6).reshape(2, 3)\nx.shape  # (2, 3)\nx.mean()\n# mean: 2.5\nnp.pi  # 3.14\n"
    )
    page.write_text(f"```python\n{right}```\n<!-- illustrative -->\n```python\n1/0\n```\n")
    assert run_page(page, {"np": np}) == 3
    page.write_text("```python\nnp.pi  # 3.15\n```\n")
    with pytest.raises(AssertionError, match="np.pi is 3.14159"):
        run_page(page, {"np": np})
