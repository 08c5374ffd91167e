"""``--database`` / ``SMSDESK_DATABASE``: the CLI on PostgreSQL, refusals in one line, no passwords.

Like test_cli_errors.py, each case runs the real command in a subprocess.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from relay_harness import relay_process
from test_cli_errors import assert_one_line_refusal

from server.config import masked, without_secrets

ROOT = Path(__file__).resolve().parent.parent


def smsdesk(*argv: str, home: Path, database_env: str | None = None,
            timeout: float = 30) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SMSDESK_HOME": str(home), "SMSDESK_TWILIO_API_URL": "http://127.0.0.1:9"}
    env.pop("SMSDESK_DEBUG", None)
    env.pop("SMSDESK_DATABASE", None)
    if database_env is not None:
        env["SMSDESK_DATABASE"] = database_env
    return subprocess.run([sys.executable, "-m", "server.cli", *argv], cwd=ROOT, env=env,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=timeout)


NOT_POSTGRES = ["mysql://u@h/db", "smsdesk.sqlite3", "host=db dbname=smsdesk", ""]


@pytest.mark.parametrize("argv", [("relay",), ("account", "list"), ("agent", "list"),
                                  ("agent", "add", "Ana"), ("group", "add", "Support"),
                                  ("account", "add", "--name", "Shop", "--sid",
                                   "AC" + "0" * 32, "--token", "t")], ids=" ".join)
def test_every_data_command_takes_database_and_checks_it(argv: tuple[str, ...],
                                                        tmp_path: Path) -> None:
    done = smsdesk(*argv, "--database", "mysql://u:pw1234@h/db", home=tmp_path)
    assert done.returncode == 2
    assert_one_line_refusal(done, "--database", "postgresql://")
    assert "pw1234" not in done.stderr


@pytest.mark.parametrize("given", NOT_POSTGRES)
def test_a_database_that_is_not_a_postgresql_url_is_refused(given: str, tmp_path: Path) -> None:
    assert_one_line_refusal(smsdesk("agent", "list", "--database", given, home=tmp_path),
                            "--database", "postgresql://")


def test_a_bad_port_in_the_url_is_refused(tmp_path: Path) -> None:
    done = smsdesk("agent", "list", "--database", "postgresql://u:pw1234@h:99999/db",
                   home=tmp_path)
    assert_one_line_refusal(done, "--database", "port")
    assert "pw1234" not in done.stderr


def test_a_bad_smsdesk_database_is_named(tmp_path: Path) -> None:
    done = smsdesk("agent", "list", home=tmp_path, database_env="mysql://u:pw1234@h/db")
    assert_one_line_refusal(done, "SMSDESK_DATABASE", "postgresql://")
    assert "pw1234" not in done.stderr


def test_an_unreachable_server_is_one_line_without_the_password(tmp_path: Path) -> None:
    from pg_cluster import free_port

    url = f"postgresql://smsdesk:hunter2222@127.0.0.1:{free_port()}/smsdesk"
    for done in (smsdesk("agent", "list", "--database", url, home=tmp_path),
                 smsdesk("relay", "--port", str(free_port()), home=tmp_path, database_env=url)):
        assert_one_line_refusal(done, "cannot use postgresql://smsdesk:***@127.0.0.1",
                                "refused")
        assert "hunter2222" not in done.stderr


def test_a_missing_database_is_one_line(tmp_path: Path, pg_cluster: Any) -> None:
    done = smsdesk("group", "add", "Support", "--database", pg_cluster.url("no_such_db"),
                   home=tmp_path)
    assert_one_line_refusal(done, "no_such_db", "does not exist")


def test_the_admin_commands_work_on_postgresql(tmp_path: Path, pg_url: str) -> None:
    assert smsdesk("group", "add", "Support", "--database", pg_url,
                   home=tmp_path).returncode == 0
    added = smsdesk("agent", "add", "Ana", "--group", "Support", home=tmp_path,
                    database_env=pg_url)
    assert added.returncode == 0, added.stderr
    listed = smsdesk("agent", "list", "--database", pg_url, home=tmp_path)
    assert "Ana  agent  groups: Support" in listed.stdout, listed
    assert smsdesk("account", "list", "--database", pg_url,
                   home=tmp_path).stdout.strip() == "no accounts connected"
    # Nothing went to a SQLite file: the data directory holds no database.
    assert not (tmp_path / "smsdesk.sqlite3").exists()
    # ... and the SQLite file stays the default without --database.
    assert smsdesk("agent", "list", home=tmp_path).stdout.strip() == "no agents yet"


def test_the_relay_names_its_database_without_the_password(tmp_path: Path, pg_url: str) -> None:
    from pg_cluster import free_port

    # The test cluster trusts loopback: any password is accepted, and must never be shown.
    url = pg_url.replace("postgresql://postgres@", "postgresql://postgres:hunter2222@")
    port = free_port()
    with relay_process(tmp_path / "home", port, public_url=f"http://127.0.0.1:{port}",
                       database=url) as relay:
        relay.process.terminate()
        relay.process.wait(timeout=10)
    output = relay.output()
    assert "database postgresql://postgres:***@127.0.0.1" in output, output
    assert "hunter2222" not in output
    assert not (tmp_path / "home" / "smsdesk.sqlite3").exists()


def test_masking() -> None:
    assert masked("postgresql://u:secret@h:5432/db?sslmode=require") == (
        "postgresql://u:***@h:5432/db?sslmode=require")
    assert masked("postgresql://u@h/db?password=secret&x=1") == (
        "postgresql://u@h/db?password=***&x=1")
    assert masked("postgresql://h/db") == "postgresql://h/db"
    url = "postgresql://u:s%40cret99@h/db"
    assert without_secrets(f"failed for {url}: s@cret99 s%40cret99", url) == (
        "failed for postgresql://u:***@h/db: *** ***")
    assert without_secrets("nothing here", None) == "nothing here"


def test_without_the_driver_the_fix_is_named() -> None:
    from server.cli import _in_words

    missing = ModuleNotFoundError("No module named 'psycopg'", name="psycopg")
    assert "pip install 'smsdesk[postgresql]'" in _in_words(missing)
