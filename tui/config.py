"""The inbox's settings file: where it lives, how it is read, how it is written.

The file holds the agent's relay token, so it is written private (0600) from the
first byte and replaced atomically: a reader never sees half a file and the token
never sits in a world-readable file, not even for a moment.
"""

from __future__ import annotations

import os
import stat
import tempfile
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import platformdirs

APP_NAME = "smsdesk"
ENV_PATH = "SMSDESK_CONFIG"
DEFAULT_RELAY = "ws://127.0.0.1:8080/ws"
DEFAULT_THEME = "textual-dark"


class ConfigError(Exception):
    """The settings file cannot be used; the message names the file, the key and the fault."""


@dataclass
class Config:
    """The inbox's settings, with the defaults a fresh install runs with."""

    relay: str = DEFAULT_RELAY
    token: str = ""
    theme: str = DEFAULT_THEME
    send_review: bool = True
    keymap: dict[str, str] = field(default_factory=dict)
    # Where the inbox keeps drafts (None: the platform data directory); not a file setting.
    data_dir: Path | None = field(default=None, compare=False)
    # The file these settings were read from (or would be, when it does not exist yet).
    source: Path | None = field(default=None, compare=False)
    # Problems that did not stop loading (unknown keys, loose permissions): shown to
    # the agent once, never written back, and not part of equality.
    warnings: list[str] = field(default_factory=list, compare=False)


_SCALARS: dict[str, type] = {"relay": str, "token": str, "theme": str, "send_review": bool}
_TYPE_WORDS: dict[type, str] = {str: "a quoted string", bool: "true or false"}


def config_path() -> Path:
    """Where the settings live: ``$SMSDESK_CONFIG`` if set, else the platform config dir."""
    override = os.environ.get(ENV_PATH)
    if override:
        return Path(override).expanduser()
    return platformdirs.user_config_path(APP_NAME) / "config.toml"


def describe_source(config: Config) -> str:
    """The settings file as the help screen names it, saying when it does not exist yet."""
    if config.source is None:
        return ""
    shown = str(config.source).replace(str(Path.home()), "~", 1)
    return shown if config.source.exists() else f"{shown} (not created yet)"


def _describe(value: Any) -> str:
    """Name a TOML value's type the way a person editing the file would."""
    names = {bool: "true/false", int: "a number", float: "a number", str: "a string",
             dict: "a table", list: "a list"}
    for kind, name in names.items():
        if type(value) is kind:
            return f"{name} ({value!r})" if kind is not dict else name
    return type(value).__name__


def _check_relay(path: Path, relay: str) -> None:
    """Reject relay addresses the websocket client could never connect to."""
    try:
        parts = urlsplit(relay)
        usable = parts.scheme in ("ws", "wss") and bool(parts.hostname)
    except ValueError:  # e.g. an unbalanced "[" where an IPv6 host would go
        usable = False
    if not usable:
        raise ConfigError(
            f"{path}: 'relay' must be a websocket address such as "
            f"\"{DEFAULT_RELAY}\" (ws:// or wss:// and a host), not {relay!r}"
        )


def _from_table(path: Path, data: dict[str, Any]) -> Config:
    """Turn a parsed TOML table into a Config, checking each key's type."""
    config = Config()
    for key, value in data.items():
        if key == "keymap":
            if not isinstance(value, dict):
                raise ConfigError(
                    f"{path}: 'keymap' must be a table like [keymap] with "
                    f"\"binding.id\" = \"keys\" lines, not {_describe(value)}"
                )
            for binding_id, keys in value.items():
                if not isinstance(keys, str):
                    raise ConfigError(
                        f"{path}: keymap entry {binding_id!r} must be a quoted string of "
                        f"keys such as \"j,down\", not {_describe(keys)}"
                    )
            config.keymap = dict(value)
        elif key in _SCALARS:
            wanted = _SCALARS[key]
            if type(value) is not wanted:
                raise ConfigError(
                    f"{path}: {key!r} must be {_TYPE_WORDS[wanted]}, not {_describe(value)}"
                )
            setattr(config, key, value)
        else:
            config.warnings.append(f"{path}: unknown setting {key!r} ignored")
    _check_relay(path, config.relay)
    return config


def _permission_warning(path: Path, config: Config) -> str | None:
    """Warn when other users can read a file that holds a token."""
    if os.name != "posix" or not config.token:
        return None
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        return (
            f"{path}: readable by other users (mode {mode:04o}) but it holds your relay "
            f"token; run: chmod 600 {path}"
        )
    return None


def load_config(path: Path | None = None) -> Config:
    """Read the settings; a missing file means defaults, a broken one raises ConfigError."""
    path = path or config_path()
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return Config(source=path)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read ({exc.strerror or exc})") from exc
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: is not UTF-8 text (byte {exc.start})") from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: is not valid TOML: {exc}") from exc
    config = _from_table(path, data)
    config.source = path
    warning = _permission_warning(path, config)
    if warning:
        config.warnings.append(warning)
    return config


_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n",
            "\f": "\\f", "\r": "\\r"}


def toml_string(value: str) -> str:
    """Quote a string as a TOML basic string, escaping what the spec forbids raw.

    TOML basic strings may not hold a quote, a backslash or control characters
    (U+0000-U+001F, U+007F) unescaped; everything else, emoji included, goes as is.
    Lone surrogates are not Unicode scalar values, so TOML cannot hold them at all.
    """
    out: list[str] = []
    for char in value:
        code = ord(char)
        if char in _ESCAPES:
            out.append(_ESCAPES[char])
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\u{code:04X}")
        elif 0xD800 <= code <= 0xDFFF:
            raise ValueError(f"U+{code:04X} is a lone surrogate, which TOML cannot store")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def dumps(config: Config) -> str:
    """Render the settings as TOML; warnings are not settings and are left out."""
    lines = [
        "# smsdesk inbox settings. This file holds your relay token: keep it private.",
        f"relay = {toml_string(config.relay)}",
        f"token = {toml_string(config.token)}",
        f"theme = {toml_string(config.theme)}",
        "# ask for a second look before a text goes out (a sent text cannot be recalled)",
        f"send_review = {'true' if config.send_review else 'false'}",
        "",
        "# binding id = keys, e.g. \"list.down\" = \"j,down\"; press ? in the inbox for ids",
        "[keymap]",
    ]
    lines += [f"{toml_string(k)} = {toml_string(v)}" for k, v in config.keymap.items()]
    return "\n".join(lines) + "\n"


def _ensure_private_dir(directory: Path) -> None:
    """Create missing directories owner-only; leave existing ones as the user set them."""
    missing: list[Path] = []
    probe = directory
    while not probe.exists():
        missing.append(probe)
        probe = probe.parent
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    for created in missing:
        # mkdir's mode is masked by the umask, so make it exact.
        created.chmod(0o700)


def save_config(config: Config, path: Path | None = None) -> Path:
    """Write the settings atomically to a file only the owner can read; return its path."""
    path = path or config_path()
    try:
        text = dumps(config)
    except ValueError as exc:
        raise ConfigError(f"{path}: cannot save: {exc}") from exc
    try:
        _ensure_private_dir(path.parent)
        # mkstemp opens with O_CREAT|O_EXCL and mode 0600: private from the first byte.
        fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot save ({exc.strerror or exc})") from exc
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except OSError as exc:
        Path(tmp_name).unlink(missing_ok=True)
        raise ConfigError(f"{path}: cannot save ({exc.strerror or exc})") from exc
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return path
