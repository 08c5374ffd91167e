"""The shape of the project: core stays free of UI and server libraries."""

from __future__ import annotations

import subprocess
import sys

import pytest

from server.cli import main

FORBIDDEN_IN_CORE = ("textual", "uvicorn", "websockets")


def test_core_never_imports_ui_or_server_libraries() -> None:
    # A fresh interpreter: this test process may have loaded them for other tests.
    code = (
        "import sys, pkgutil, importlib, core\n"
        "for m in pkgutil.walk_packages(core.__path__, 'core.'):\n"
        "    importlib.import_module(m.name)\n"
        f"bad = [n for n in {FORBIDDEN_IN_CORE!r} if n in sys.modules]\n"
        "print(','.join(bad))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "", f"core loaded {result.stdout.strip()}"


def test_smsdesk_help_works(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    assert "SMS and MMS" in capsys.readouterr().out


def test_console_script_is_installed() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "server.cli", "--version"], capture_output=True, text=True
    )
    assert result.returncode == 0
    assert result.stdout.startswith("smsdesk ")
