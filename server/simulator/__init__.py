"""A Twilio stand-in that speaks Twilio's wire format (REST 2010-04-01, signed webhooks).

See docs/simulator.md.  ``Simulator`` (runner.py) is the in-process entry point.
Names load lazily so that ``server.simulator.cli`` (imported for ``smsdesk --help``)
does not pull in uvicorn and the twilio SDK.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from server.simulator.runner import Simulator, TextResult, seed_demo, seed_rehearsals

__all__ = ["Simulator", "TextResult", "seed_demo", "seed_rehearsals"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from server.simulator import runner

        return getattr(runner, name)
    raise AttributeError(f"module 'server.simulator' has no attribute {name!r}")
