"""``smsdesk report`` against a real store (the SQLite file in SMSDESK_HOME, or a PostgreSQL
``--database``) holding the hand-computed fixture of tests/test_reports.py: its json is the
very dict the screen gets, its csv and text carry the same figures, names are resolved and
refused in words."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import UK, Desk
from test_reports import build, clock, report_of  # noqa: F401

from server.cli import main

RANGE = ["--from", "2026-11-21", "--to", "2026-11-25", "--time-zone", "America/New_York"]


@pytest.fixture
async def cli(desk: Desk, clock: list[int], tmp_path: Path,  # noqa: F811
              monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The fixture written; the options that point ``smsdesk report`` at it."""
    await build(desk, clock)
    monkeypatch.delenv("SMSDESK_DATABASE", raising=False)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("SMSDESK_HOME", str(home))
    if isinstance(desk.locator, str):
        return ["--database", desk.locator]
    with sqlite3.connect(desk.locator) as source, \
            sqlite3.connect(home / "smsdesk.sqlite3") as copy:
        source.backup(copy)  # the desk's file, as SMSDESK_HOME keeps it
    return []


async def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = await asyncio.to_thread(main, ["report", *argv])
    out, err = capsys.readouterr()
    return code, out, err


async def test_json_is_the_wire_report(desk: Desk, cli: list[str],
                                       capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = await run(capsys, *RANGE, "--format", "json", *cli)
    assert code == 0
    assert json.loads(out) == await report_of(desk)


async def test_filters_by_name(desk: Desk, cli: list[str],
                               capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = await run(capsys, *RANGE, "--format", "json", "--group", "billing", *cli)
    assert code == 0 and json.loads(out) == await report_of(desk, group_id=desk.billing.id)
    code, out, _ = await run(capsys, *RANGE, "--format", "json", "--number", UK,
                             "--channel", "sms", *cli)
    assert code == 0 and json.loads(out) == await report_of(desk, number_id=desk.uk.id,
                                                             channel="sms")
    code, out, _ = await run(capsys, *RANGE, "--format", "json", "--agent", "Ada", "--number",
                             str(desk.us.id), *cli)
    ada = json.loads(out)
    assert code == 0 and ada["filters"]["number_id"] == desk.us.id
    assert ada["totals"]["resolved"] == 1


@pytest.mark.parametrize(("options", "words"), [
    (["--group", "Nobody"], "no group is called 'Nobody'"),
    (["--agent", "Zed"], "no agent is called 'Zed'"),
    (["--number", "+19995550000"], "no business number is '+19995550000'"),
    (["--time-zone", "Mars/Base"], "unknown time zone"),
])
async def test_refusals_are_one_line(cli: list[str], capsys: pytest.CaptureFixture[str],
                                     options: list[str], words: str) -> None:
    code, out, err = await run(capsys, *RANGE, *options, *cli)
    assert (code, out) == (1, "")
    assert err.startswith("smsdesk report: ") and words in err and err.count("\n") == 1


async def test_csv_has_a_section_per_table(desk: Desk, cli: list[str],
                                           capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = await run(capsys, *RANGE, "--format", "csv", *cli)
    assert code == 0
    sections: dict[str, list[list[str]]] = {}
    for block in out.strip("\n").split("\n\n"):
        rows = list(csv.reader(io.StringIO(block)))
        sections[rows[0][0]] = rows[1:]
    assert list(sections) == ["days", "totals", "times", "sla", "csat", "failures",
                              "segments", "busiest_hours"]
    assert sections["days"] == [
        ["day", "created", "resolved", "inbound", "outbound"],
        ["2026-11-21", "0", "0", "0", "0"], ["2026-11-22", "1", "0", "1", "0"],
        ["2026-11-23", "2", "1", "3", "2"], ["2026-11-24", "1", "1", "2", "3"],
        ["2026-11-25", "1", "1", "1", "2"]]
    assert sections["times"][1:] == [["first_response", "4", "1800000", "9000000"],
                                     ["resolution", "3", "7200000", "109800000"]]
    assert sections["segments"][1:] == [
        [str(desk.us.id), "+18885550100", "", "5", "4", "0.0079", "USD", "0.04"],
        [str(desk.uk.id), UK, "", "4", "2", "", "USD", ""]]
    assert sections["csat"] == [["sent", "rated", "response_rate", "average", *"12345"],
                                ["2", "1", "50.0", "4.0", "0", "0", "0", "1", "0"]]
    assert [row[0] for row in sections["busiest_hours"][1:]] == [
        "Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
    assert sections["busiest_hours"][1][1 + 9] == "1"  # Monday 09:00


async def test_text_reads(cli: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = await run(capsys, *RANGE, *cli)
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "Report 2026-11-21 to 2026-11-25 (America/New_York)"
    assert "2026-11-23        2         1        3         2" in out
    assert "First response: 4 tickets, median 30m, 90th percentile 2h 30m" in out
    assert "Resolution: 3 tickets, median 2h, 90th percentile 1d 6h 30m" in out
    assert "first response 3 met, 1 breached (75.0 %)" in out
    assert "30003 " in out and "30007 Message filtered × 1" in out
    assert "+18885550100: 5 segments in 4 texts × 0.0079 = 0.04 USD" in out


@pytest.mark.sqlite_only
async def test_the_installed_command_prints_the_same(desk: Desk, cli: list[str],
                                                     tmp_path: Path) -> None:
    """As a subprocess, the way a script calls it."""
    done = await asyncio.to_thread(
        subprocess.run, [str(Path(sys.executable).parent / "smsdesk"), "report", *RANGE,
                         "--format", "json"],
        capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    got: dict[str, Any] = json.loads(done.stdout)
    assert got == await report_of(desk)
