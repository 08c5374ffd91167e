"""Every ``smsdesk`` sub-command, given bad input, says what is wrong in one line, exits non-zero.

Each case runs the real command in a subprocess (as a newcomer would type
it) and checks: a non-zero exit, no traceback, exactly one line on stderr,
and words that name the problem.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def smsdesk(*argv: str, home: Path, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SMSDESK_HOME": str(home), "SMSDESK_TWILIO_API_URL": "http://127.0.0.1:9"}
    env.pop("SMSDESK_DEBUG", None)
    return subprocess.run([sys.executable, "-m", "server.cli", *argv], cwd=ROOT, env=env,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=timeout)


def assert_one_line_refusal(done: subprocess.CompletedProcess[str], *words: str) -> None:
    assert done.returncode != 0, done
    assert "Traceback" not in done.stderr and "Traceback" not in done.stdout, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    for word in words:
        assert word.lower() in lines[0].lower(), lines[0]


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


@pytest.fixture
def home_is_a_file(tmp_path: Path) -> Path:
    file = tmp_path / "not-a-directory"
    file.write_text("oops")
    return file


@pytest.fixture
def garbage_database(tmp_path: Path) -> Path:
    home = tmp_path / "garbage"
    home.mkdir()
    (home / "smsdesk.sqlite3").write_bytes(b"this is not a database\n" * 200)
    return home


@pytest.fixture
def database_is_a_directory(tmp_path: Path) -> Path:
    home = tmp_path / "dir"
    (home / "smsdesk.sqlite3").mkdir(parents=True)
    return home


@pytest.fixture
def busy_port() -> Iterator[int]:
    taken = socket.create_server(("127.0.0.1", 0))
    try:
        yield taken.getsockname()[1]
    finally:
        taken.close()


BAD_ARGUMENTS = [
    (("relay", "--port", "99999"), ("--port", "65535")),
    (("relay", "--port", "0"), ("--port", "65535")),
    (("relay", "--port", "eighty"), ("--port", "eighty")),
    (("relay", "--public-url", "not a url"), ("--public-url", "not a url")),
    (("relay", "--public-url", "ftp://example.com"), ("--public-url", "http")),
    (("relay", "--rate", "long_code=fast"), ("--rate", "fast")),
    (("relay", "--rate", "pigeon=1"), ("--rate", "long_code")),
    (("relay", "--rate", "long_code=-1"), ("--rate", "above 0")),
    (("account", "add", "--name", "", "--sid", "AC" + "0" * 32, "--token", "t"),
     ("--name", "empty")),
    (("account", "add", "--name", "Shop", "--sid", "nope", "--token", "t"), ("AC",)),
    (("account",), ("required",)),
    (("agent", "add", "  "), ("name", "empty")),
    (("agent", "add", "Ana", "--role", "boss"), ("--role", "boss")),
    (("agent", "add", "Ana", "--group", ""), ("--group", "empty")),
    (("group", "add", ""), ("name", "empty")),
    (("sim", "--port", "99999"), ("--port", "65535")),
    (("sim", "--port", "-1"), ("--port",)),
    (("sim", "--seed-demo", "--sms-url", "somewhere"), ("--sms-url",)),
    (("sim", "text", "--from", "+1", "--to", "+1", "--sim", "garbage", "x"), ("--sim",)),
    (("sim", "text", "--from", "+14155550100", "--to", "+18885550100", "--sim",
      "http://127.0.0.1:9", "x"), ("no simulator",)),
    (("sim", "text", "--from", "+14155550100", "--to", "+18885550100", "--sim",
      "http://127.0.0.1:9", "--media", "/no/such/file.png", "x"), ("/no/such/file.png",)),
    (("sim", "--scenario", "/no/such/scenario.toml"), ("/no/such/scenario.toml", "no such")),
    (("sim", "--state", "/"), ("state file", "directory")),
    (("sim", "--state", "/no/such/dir/state.json"), ("state file", "/no/such/dir")),
    (("demo", "--speed", "0"), ("--speed",)),
    (("demo", "--speed", "nan"), ("--speed",)),
    (("inbox", "--relay", "not a url"), ("--relay",)),
    (("relay", "--no-such-option"), ("--no-such-option",)),
]


@pytest.mark.parametrize(("argv", "words"), BAD_ARGUMENTS, ids=" ".join)
def test_a_bad_argument_is_one_line_and_a_non_zero_exit(argv: tuple[str, ...],
                                                       words: tuple[str, ...],
                                                       home: Path) -> None:
    assert_one_line_refusal(smsdesk(*argv, home=home), *words)


USING_THE_DATA_DIRECTORY = [
    ("relay", "--port", "1"),  # never reached: the home is checked first
    ("account", "list"),
    ("account", "add", "--name", "Shop", "--sid", "AC" + "0" * 32, "--token", "t"),
    ("agent", "list"),
    ("agent", "add", "Ana"),
    ("group", "add", "Support"),
]


@pytest.mark.parametrize("argv", USING_THE_DATA_DIRECTORY, ids=" ".join)
def test_a_home_that_is_a_file_is_named(argv: tuple[str, ...], home_is_a_file: Path) -> None:
    done = smsdesk(*argv, home=home_is_a_file)
    assert_one_line_refusal(done, "SMSDESK_HOME", str(home_is_a_file), "not a directory")


@pytest.mark.parametrize("argv", USING_THE_DATA_DIRECTORY[::2], ids=" ".join)
def test_a_garbage_database_is_named_and_left_alone(argv: tuple[str, ...],
                                                    garbage_database: Path) -> None:
    database = garbage_database / "smsdesk.sqlite3"
    before = database.read_bytes()
    done = smsdesk(*argv, home=garbage_database)
    assert_one_line_refusal(done, str(database), "not an SQLite database")
    assert database.read_bytes() == before
    assert sorted(p.name for p in garbage_database.iterdir()) == ["smsdesk.sqlite3"]


@pytest.mark.parametrize("argv", [("agent", "list"), ("relay", "--port", "1")], ids=" ".join)
def test_a_database_that_is_a_directory_is_named(argv: tuple[str, ...],
                                                 database_is_a_directory: Path) -> None:
    done = smsdesk(*argv, home=database_is_a_directory)
    assert_one_line_refusal(done, "smsdesk.sqlite3", "is a directory")


def test_a_home_inside_a_file_is_named(home_is_a_file: Path) -> None:
    done = smsdesk("agent", "list", home=home_is_a_file / "below")
    assert_one_line_refusal(done, "SMSDESK_HOME", "inside a file")


def test_the_relay_on_a_busy_port_exits_1_with_one_line(busy_port: int, home: Path) -> None:
    done = smsdesk("relay", "--port", str(busy_port), home=home, timeout=20)
    assert done.returncode == 1
    assert_one_line_refusal(done, f"127.0.0.1:{busy_port}", "in use")


def test_the_relay_on_an_unknown_host_exits_1_with_one_line(home: Path) -> None:
    done = smsdesk("relay", "--host", "no-such-host.invalid", "--port", "8080", home=home)
    assert_one_line_refusal(done, "no-such-host.invalid")


def test_the_simulator_on_a_busy_port_exits_1_with_one_line(busy_port: int,
                                                            home: Path) -> None:
    done = smsdesk("sim", "--port", str(busy_port), home=home, timeout=20)
    assert done.returncode == 1
    assert_one_line_refusal(done, f"127.0.0.1:{busy_port}", "in use")


def test_demo_home_that_is_a_file_is_refused(home_is_a_file: Path, home: Path) -> None:
    done = smsdesk("demo", "--no-inbox", "--home", str(home_is_a_file), home=home)
    assert_one_line_refusal(done, str(home_is_a_file), "file")


def test_names_are_kept_without_outer_spaces(home: Path) -> None:
    done = smsdesk("group", "add", "  Support ", home=home)
    assert done.returncode == 0, done.stderr
    assert smsdesk("group", "add", "Support", home=home).returncode == 1  # the same name


def test_an_ipv6_relay_address_is_a_url_twilio_and_browsers_can_use() -> None:
    from server.relay import http_address

    assert http_address("::1", 8080) == "http://[::1]:8080"  # was http://::1:8080
    assert http_address("127.0.0.1", 8080) == "http://127.0.0.1:8080"
