"""The throwaway PostgreSQL the backend tests use starts, serves SQL and isolates tests."""

from __future__ import annotations

from typing import Any


def test_each_test_gets_its_own_empty_database(pg_cluster: Any, pg_url: str) -> None:
    import psycopg

    other = pg_cluster.fresh_database()
    assert other != pg_url
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE t (x int)")
        conn.execute("INSERT INTO t VALUES (1)")
        assert conn.execute("SELECT count(*) FROM t").fetchone() == (1,)
        version = conn.execute("SHOW server_version_num").fetchone()[0]
        assert int(version) >= 150000
    with psycopg.connect(other, autocommit=True) as conn:
        assert conn.execute("SELECT to_regclass('t')").fetchone() == (None,)
