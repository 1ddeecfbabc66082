"""docs/failure-cases.md names, for each failure case, the tests that prove it: every file and
test it cites must exist, so a renamed or deleted test cannot leave the doc claiming cover."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "failure-cases.md"
REFERENCE = re.compile(r"`((?:tests/[\w/]+\.py)?(?:::\w+)?)`")
"""`tests/x/test_y.py`, `tests/x/test_y.py::test_z`, or `::test_z` (of the file cited before)."""


def cited(text: str) -> list[tuple[str, str | None]]:
    """(file, test or None) for every reference, in order; `::name` takes the file before it."""
    references: list[tuple[str, str | None]] = []
    path: str | None = None
    for match in REFERENCE.finditer(text):
        reference = match.group(1)
        if not reference:
            continue
        file, _, name = reference.partition("::")
        if file:
            path = file
        assert path is not None, f"`{reference}` names a test before any file"
        references.append((path, name or None))
    return references


def defined_tests(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    return {
        node.name
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith("test")
    }


def test_the_reference_parser_reads_files_tests_and_shorthands() -> None:
    text = "`tests/a.py::test_one`, `::test_two`, `tests/b.py`; `DRIFTWISE_X` `os._exit`"
    assert cited(text) == [
        ("tests/a.py", "test_one"),
        ("tests/a.py", "test_two"),
        ("tests/b.py", None),
    ]


def test_every_test_the_failure_cases_doc_cites_exists() -> None:
    text = DOC.read_text()
    references = cited(text)
    assert len({name for _, name in references if name}) >= 60
    missing = []
    for file, name in references:
        path = ROOT / file
        if not path.is_file():
            missing.append(file)
        elif name is not None and name not in defined_tests(path):
            missing.append(f"{file}::{name}")
    assert missing == []


def test_every_case_names_a_test_and_none_is_left_pending() -> None:
    rows = re.findall(r"^\| (\d+) \| .+\| (.+) \|$", DOC.read_text(), flags=re.MULTILINE)
    assert [int(number) for number, _ in rows] == list(range(1, 31))
    for number, tests in rows:
        assert cited(tests), f"case {number} names no test"
    assert not re.search(r"\bpending \(|: pending\b", DOC.read_text())
