"""``smsdesk sim`` and its helpers: the argparse contract, a real process, the demo PNG."""

from __future__ import annotations

import argparse
import signal
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import requests

from server.simulator.cli import register
from server.simulator.customers import demo_png, png
from server.simulator.runner import DEMO_ACCOUNT_SID, DEMO_AUTH_TOKEN

ROOT = Path(__file__).resolve().parent.parent

_RUN = """
import argparse, sys
from server.simulator.cli import register
parser = argparse.ArgumentParser(prog="smsdesk")
register(parser.add_subparsers())
args = parser.parse_args(sys.argv[1:])
sys.exit(args.run(args))
"""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="smsdesk")
    register(parser.add_subparsers(title="commands", metavar="COMMAND"))
    return parser


def test_register_serve_defaults() -> None:
    args = _parser().parse_args(["sim"])
    assert (args.host, args.port, args.seed_demo) == ("127.0.0.1", 8090, False)
    assert args.run.__name__ == "_serve"
    args = _parser().parse_args(["sim", "--host", "0.0.0.0", "--port", "9000", "--seed-demo"])
    assert (args.host, args.port, args.seed_demo) == ("0.0.0.0", 9000, True)


def test_register_text_arguments() -> None:
    args = _parser().parse_args(
        ["sim", "text", "--from", "+447400900123", "--to", "+18885550100",
         "--media", "a.png", "--media", "b.pdf", "Hello there"]
    )
    assert args.run.__name__ == "_text"
    assert (args.from_, args.to, args.body) == ("+447400900123", "+18885550100", "Hello there")
    assert args.media == ["a.png", "b.pdf"]
    assert args.sim is None and args.sim_port is None  # found by itself, else port 8090


def _cli(*argv: str, **kw: object) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", _RUN, *argv], cwd=ROOT, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw,  # type: ignore[call-overload]
    )


def test_sim_process_seeds_demo_texts_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    server = _cli("sim", "--port", "0", "--seed-demo")
    try:
        assert server.stdout is not None
        first = server.stdout.readline()
        assert "listening on http://127.0.0.1:" in first, first + server.stderr.read()
        url = first.split("listening on ")[1].split()[0]
        seeded = "".join(server.stdout.readline() for _ in range(5))
        assert DEMO_ACCOUNT_SID in seeded and DEMO_AUTH_TOKEN in seeded
        assert "+18885550100" in seeded and "+447400900456" in seeded

        auth = (DEMO_ACCOUNT_SID, DEMO_AUTH_TOKEN)
        account = requests.get(f"{url}/2010-04-01/Accounts/{DEMO_ACCOUNT_SID}.json", auth=auth)
        assert account.json()["status"] == "active"

        picture = tmp_path / "box.png"
        picture.write_bytes(demo_png())
        texter = _cli("sim", "text", "--from", "+447400900123", "--to", "+18885550100",
                      "--media", str(picture), "--sim", url, "Hello")
        out, err = texter.communicate(timeout=20)
        assert texter.returncode == 0, err
        assert out.startswith("MM") and "no SmsUrl" in out  # the demo numbers have no SmsUrl yet

        listing = requests.get(
            f"{url}/2010-04-01/Accounts/{DEMO_ACCOUNT_SID}/Messages.json", auth=auth
        ).json()
        assert [m["body"] for m in listing["messages"]] == ["Hello"]
        assert listing["messages"][0]["num_media"] == "1"

        bad = _cli("sim", "text", "--from", "+1", "--to", "+19990000000", "--sim", url, "x")
        _, err = bad.communicate(timeout=20)
        assert bad.returncode == 1 and "refused" in err
    finally:
        server.send_signal(signal.SIGINT)
        server.communicate(timeout=10)
    assert server.returncode == 0


def test_text_without_a_simulator_fails_cleanly() -> None:
    texter = _cli("sim", "text", "--from", "+1", "--to", "+1", "--sim", "http://127.0.0.1:9", "x")
    _, err = texter.communicate(timeout=20)
    assert texter.returncode == 1 and "no simulator" in err


def test_png_is_a_real_png() -> None:
    data = png(3, 2, lambda x, y: (x * 80, y * 100, 7))
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    assert struct.unpack(">II", data[16:24]) == (3, 2)
    idat_len = struct.unpack(">I", data[33:37])[0]
    assert data[37:41] == b"IDAT"
    raw = zlib.decompress(data[41 : 41 + idat_len])
    assert raw[: 1 + 3 * 3] == bytes([0, 0, 0, 7, 80, 0, 7, 160, 0, 7])
    assert len(raw) == 2 * (1 + 3 * 3)
    assert data.endswith(b"IEND\xaeB`\x82")


def test_importing_the_cli_stays_light() -> None:
    """``smsdesk --help`` imports cli.py; it must not load uvicorn or the twilio SDK."""
    probe = (
        "import sys, server.simulator.cli\n"
        "print(sorted(m for m in ('uvicorn', 'twilio') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"
