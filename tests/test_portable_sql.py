"""The runtime SQL stays in forms SQLite and PostgreSQL both run (issue 11).

Why a source scan: ``cursor.lastrowid``, ``INSERT OR IGNORE`` and friends work on
SQLite, so no SQLite test fails when one comes back; only the PostgreSQL backend
would, much later. Released migrations in core/schema.py are never edited and
run only on SQLite, so they are left out.
"""

from __future__ import annotations

import ast
import re
import sqlite3
from pathlib import Path

import pytest

from core import store as store_module
from core.store import SqliteTooOld, Store
from core.writes import WriteContext

ROOT = Path(__file__).resolve().parent.parent
SQLITE_ONLY_INSERT = re.compile(r"\bINSERT\s+OR\s+(IGNORE|REPLACE|ABORT|FAIL|ROLLBACK)\b"
                                r"|\bREPLACE\s+INTO\b", re.IGNORECASE)


def _runtime_sources() -> list[Path]:
    files = [*sorted((ROOT / "core").glob("*.py")), *sorted((ROOT / "server").glob("*.py")),
             ROOT / "bench" / "store.py"]
    return [path for path in files if path.name != "schema.py"]


def _strings(tree: ast.AST) -> list[tuple[int, str]]:
    """Every string literal, f-strings with their holes left out, with its line."""
    found = []
    parts = {id(part) for node in ast.walk(tree) if isinstance(node, ast.JoinedStr)
             for part in node.values}
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) \
                and id(node) not in parts:
            found.append((node.lineno, node.value))
        elif isinstance(node, ast.JoinedStr):
            text = "".join(part.value if isinstance(part, ast.Constant) else "{}"
                           for part in node.values)
            found.append((node.lineno, text))
    return found


def _sqlite_only_uses(path: Path, root: Path = ROOT) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    where = path.relative_to(root)
    problems = [f"{where}:{node.lineno}: cursor.lastrowid (use INSERT ... RETURNING id)"
                for node in ast.walk(tree)
                if isinstance(node, ast.Attribute) and node.attr == "lastrowid"]
    problems += [f"{where}:{line}: {match.group(0)} (use INSERT ... ON CONFLICT)"
                 for line, text in _strings(tree)
                 for match in SQLITE_ONLY_INSERT.finditer(text)]
    return problems


def test_runtime_sql_has_no_sqlite_only_insert_forms() -> None:
    sources = _runtime_sources()
    assert len(sources) > 20  # the scan really reads the tree
    problems = [problem for path in sources for problem in _sqlite_only_uses(path)]
    assert problems == []


def test_the_scan_finds_what_it_forbids(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text('def f(conn):\n'
                      '    cur = conn.execute("INSERT OR IGNORE INTO t(x) VALUES (1)")\n'
                      '    conn.execute(f"REPLACE INTO {name} VALUES (1)")\n'
                      '    return cur.lastrowid\n')
    problems = _sqlite_only_uses(sample, tmp_path)
    assert sorted(problem.split(": ")[0] for problem in problems) == [
        "sample.py:2", "sample.py:3", "sample.py:4"]


def _emit_twice(ctx: WriteContext, kind: str) -> list[int]:
    return [ctx.emit(kind, None, {"n": n}).seq for n in range(2)]


async def test_emit_gives_each_event_its_stored_seq_in_order(store: Store) -> None:
    first = await store.write(_emit_twice, "test.first")
    second = await store.write(_emit_twice, "test.second")
    seqs = first + second
    assert seqs == sorted(set(seqs)) and seqs[0] > 0
    stored = await store.read(lambda conn: [
        row[0] for row in conn.execute(
            "SELECT seq FROM events WHERE kind LIKE 'test.%' ORDER BY seq")])
    assert stored == seqs


async def test_a_sqlite_without_returning_is_refused_before_the_file_is_made(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store_module.sqlite3, "sqlite_version_info", (3, 34, 1))
    with pytest.raises(SqliteTooOld, match=r"SQLite 3\.35\.0 or newer.*SQLite 3\.34\.1"):
        await Store.open(tmp_path / "x.sqlite3")
    assert not (tmp_path / "x.sqlite3").exists()


def test_this_sqlite_runs_returning() -> None:
    assert sqlite3.sqlite_version_info >= store_module.MIN_SQLITE
