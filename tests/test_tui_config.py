"""The inbox's config file, the keymap checks and the help screen."""

from __future__ import annotations

import os
import stat
import tomllib
from pathlib import Path
from typing import Any, ClassVar

import platformdirs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import DataTable, Static

from tui.config import (
    Config,
    ConfigError,
    config_path,
    dumps,
    load_config,
    save_config,
    toml_string,
)
from tui.keymap import apply_keymap, binding_catalog, current_keys, is_key_name
from tui.screens.help import HelpScreen, help_rows

# ---------------------------------------------------------------- config file


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_path_comes_from_env_when_set(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SMSDESK_CONFIG", str(tmp_path / "x.toml"))
    assert config_path() == tmp_path / "x.toml"
    monkeypatch.delenv("SMSDESK_CONFIG")
    assert config_path() == platformdirs.user_config_path("smsdesk") / "config.toml"


def test_missing_file_gives_defaults(tmp_path: Path) -> None:
    config = load_config(tmp_path / "nope.toml")
    assert config == Config()
    assert config.warnings == []
    assert (config.relay, config.theme, config.send_review) == (
        "ws://127.0.0.1:8080/ws", "textual-dark", True)


def test_env_path_is_used_by_load(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    path = write(tmp_path / "c.toml", 'token = "sd_abc"\n')
    monkeypatch.setenv("SMSDESK_CONFIG", str(path))
    assert load_config().token == "sd_abc"


def test_full_file_is_read(tmp_path: Path) -> None:
    path = write(tmp_path / "c.toml", """
relay = "wss://desk.example.org/ws"
token = "sd_123"
theme = "nord"
send_review = false
[keymap]
"inbox.reply" = "r"
"list.down" = "j,down"
""")
    config = load_config(path)
    assert config == Config("wss://desk.example.org/ws", "sd_123", "nord", False,
                            {"inbox.reply": "r", "list.down": "j,down"})


@pytest.mark.parametrize(("text", "words"), [
    ("relay = ", "is not valid TOML"),
    ('send_review = "yes"', "'send_review' must be true or false, not a string ('yes')"),
    ("relay = 5", "'relay' must be a quoted string, not a number (5)"),
    ("token = true", "'token' must be a quoted string, not true/false (True)"),
    ('keymap = "r"', "'keymap' must be a table"),
    ('[keymap]\n"inbox.reply" = 3', "keymap entry 'inbox.reply' must be a quoted string"),
    ('relay = "http://127.0.0.1:8080/ws"', "'relay' must be a websocket address"),
    ('relay = "ws://"', "'relay' must be a websocket address"),
    ('relay = "ws://[::1/ws"', "'relay' must be a websocket address"),
])
def test_bad_files_raise_in_words(tmp_path: Path, text: str, words: str) -> None:
    path = write(tmp_path / "c.toml", text + "\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(path) in str(caught.value)
    assert words in str(caught.value)


def test_non_utf8_file_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_bytes(b'token = "\xff"\n')
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config(path)


def test_unknown_keys_are_reported_not_fatal(tmp_path: Path) -> None:
    path = write(tmp_path / "c.toml", 'token = "t"\ncolour = "red"\n[extras]\na = 1\n')
    os.chmod(path, 0o600)
    config = load_config(path)
    assert config.token == "t"
    assert config.warnings == [
        f"{path}: unknown setting 'colour' ignored",
        f"{path}: unknown setting 'extras' ignored",
    ]


@pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")
def test_world_readable_token_file_is_warned_about(tmp_path: Path) -> None:
    path = write(tmp_path / "c.toml", 'token = "sd_secret"\n')
    os.chmod(path, 0o644)
    assert any("chmod 600" in warning for warning in load_config(path).warnings)
    os.chmod(path, 0o600)
    assert load_config(path).warnings == []


@pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")
def test_save_is_private_and_atomic(tmp_path: Path) -> None:
    path = tmp_path / "new" / "deeper" / "config.toml"
    config = Config(token="sd_secret", keymap={"inbox.reply": "ctrl+r"})
    assert save_config(config, path) == path
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(path.parent.parent.stat().st_mode) == 0o700
    assert load_config(path) == config
    # An existing, too-open file is replaced by a private one, leaving no temp files.
    os.chmod(path, 0o644)
    save_config(Config(token="sd_other"), path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_config(path).token == "sd_other"
    assert sorted(p.name for p in path.parent.iterdir()) == ["config.toml"]


@pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")
def test_save_leaves_an_existing_directory_mode_alone(tmp_path: Path) -> None:
    os.chmod(tmp_path, 0o755)
    save_config(Config(), tmp_path / "c.toml")
    assert stat.S_IMODE(tmp_path.stat().st_mode) == 0o755


def test_save_refuses_what_toml_cannot_hold(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    with pytest.raises(ConfigError, match="lone surrogate"):
        save_config(Config(token="a\ud800b"), path)
    assert not path.exists()
    assert list(tmp_path.iterdir()) == []


def test_save_uses_env_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SMSDESK_CONFIG", str(tmp_path / "env.toml"))
    assert save_config(Config(theme="nord")) == tmp_path / "env.toml"
    assert load_config().theme == "nord"


@pytest.mark.parametrize("value", ['"', "\\", "\n", "\r\n", "\t", "\x00", "\x1f", "\x7f",
                                   "é", "😀", "\u2028", "'''", '"""', "\\u0041"])
def test_toml_string_is_read_back_exactly(value: str) -> None:
    assert tomllib.loads(f"v = {toml_string(value)}")["v"] == value


def test_warnings_are_not_saved() -> None:
    config = Config(warnings=["something odd"])
    assert "something odd" not in dumps(config)
    assert config == Config()


text = st.text(st.characters(exclude_categories=["Cs"]))


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(token=text, theme=text, path_part=text, send_review=st.booleans(),
       keymap=st.dictionaries(text, text, max_size=5))
def test_save_then_load_round_trips(tmp_path: Path, token: str, theme: str, path_part: str,
                                    send_review: bool, keymap: dict[str, str]) -> None:
    config = Config(relay="wss://desk.example.org/" + path_part, token=token, theme=theme,
                    send_review=send_review, keymap=keymap)
    path = save_config(config, tmp_path / "c.toml")
    assert load_config(path) == config


# ---------------------------------------------------------------- keymap


class Base(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("r", "reply", "Reply", id="demo.reply"),
        Binding("c", "close_ticket", "Close", id="demo.close"),
        ("z", "zap", "No id, not remappable"),
    ]


class Derived(Base):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("R", "reply", "Reply to all", id="demo.reply"),
        Binding("j,down", "down", "Next", id="list.down"),
    ]


def test_catalog_walks_the_mro_and_keeps_the_subclass_version() -> None:
    catalog = binding_catalog(Derived)
    assert list(catalog) == ["demo.reply", "list.down", "demo.close"]
    assert catalog["demo.reply"].description == "Reply to all"
    assert binding_catalog(Base, Derived)["demo.reply"].description == "Reply"
    assert "zap" not in {b.action for b in catalog.values()}


@pytest.mark.parametrize(("key", "ok"), [
    ("r", True), ("ctrl+r", True), ("question_mark", True), ("f5", True), ("pagedown", True),
    ("comma", True), ("full_stop", True), ("alt+shift+up", True), ("enter", True),
    ("foo", False), ("ctrl+nope", False), ("cmd+r", False), ("latin_small_letter_a", False),
    ("ctrl+shift+banana", False), ("banana", False), ("grinning_face", False),
])
def test_key_names(key: str, ok: bool) -> None:
    assert is_key_name(key) is ok


class Recorder:
    def __init__(self) -> None:
        self.keymaps: list[dict[str, str]] = []

    def set_keymap(self, keymap: dict[str, str]) -> None:
        self.keymaps.append(dict(keymap))


def test_apply_keymap_keeps_valid_entries_and_explains_the_rest() -> None:
    app: Any = Recorder()
    catalog = binding_catalog(Derived)
    warnings = apply_keymap(app, {
        "demo.reply": "ctrl+r",
        "demo.rpely": "x",
        "demo.close": "  ",
        "list.down": "j,,k",
        "list.up": "k",
    }, catalog)
    assert app.keymaps == [{"demo.reply": "ctrl+r"}]
    assert warnings == [
        "keymap: 'demo.rpely' is not a binding id of the inbox, ignored; "
        "did you mean 'demo.reply' or 'demo.close'?",
        "keymap: 'demo.close' has no keys; remove the line to keep the default",
        "keymap: 'list.down' = 'j,,k' has an empty key between commas "
        "(to bind the comma key itself, write \"comma\")",
        "keymap: 'list.up' is not a binding id of the inbox, ignored; did you mean 'list.down'?",
    ]


def test_apply_keymap_rejects_unknown_key_names_and_non_strings() -> None:
    app: Any = Recorder()
    warnings = apply_keymap(app, {"demo.reply": "ctrl+foo", "demo.close": 5},
                            binding_catalog(Derived))
    assert app.keymaps == [{}]
    assert "'ctrl+foo' is not a key name Textual knows" in warnings[0]
    assert warnings[1] == "keymap: 'demo.close' must be a string of keys such as \"j,down\""


def test_apply_keymap_warns_about_a_clash_within_a_scope() -> None:
    app: Any = Recorder()
    warnings = apply_keymap(app, {"demo.close": "R"}, binding_catalog(Derived))
    assert app.keymaps == [{"demo.close": "R"}]
    assert warnings == [
        "keymap: key 'R' is bound to demo.reply and demo.close in 'demo'; "
        "only one of them will work"
    ]
    # Different scopes may share keys without a warning: they live in different widgets.
    assert apply_keymap(app, {"demo.close": "j"}, binding_catalog(Derived)) == []


def test_current_keys_follow_the_keymap() -> None:
    catalog = binding_catalog(Derived)
    assert current_keys("list.down", catalog, {}) == ["j", "down"]
    assert current_keys("list.down", catalog, {"list.down": "n, ?"}) == ["n", "question_mark"]


class Counter(Static, can_focus=True):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("k", "bump('widget')", "Bump", id="thread.bump"),
    ]

    def action_bump(self, source: str) -> None:
        self.app.hits.append(source)  # type: ignore[attr-defined]


class KeyApp(App[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("r", "hit('reply')", "Reply", id="inbox.reply"),
        Binding("question_mark", "help", "Help", id="app.help"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.hits: list[str] = []

    def compose(self) -> ComposeResult:
        yield Counter("counter")

    def action_hit(self, what: str) -> None:
        self.hits.append(what)

    def action_help(self) -> None:
        self.push_screen(HelpScreen(binding_catalog(KeyApp, Counter), config_hint="c.toml"))


async def test_remapped_keys_trigger_and_old_keys_do_not() -> None:
    app = KeyApp()
    async with app.run_test() as pilot:
        app.query_one(Counter).focus()
        await pilot.press("r", "k")
        assert app.hits == ["reply", "widget"]
        warnings = apply_keymap(app, {"inbox.reply": "x,ctrl+e", "thread.bump": "?"},
                                binding_catalog(KeyApp, Counter))
        assert warnings == []
        app.hits.clear()
        await pilot.press("r", "k", "x", "ctrl+e", "question_mark")
        await pilot.pause()
        assert app.hits == ["reply", "reply", "widget"]
        # A second call replaces the keymap: the defaults come back.
        apply_keymap(app, {}, binding_catalog(KeyApp, Counter))
        app.hits.clear()
        await pilot.press("x", "r")
        assert app.hits == ["reply"]


# ---------------------------------------------------------------- help screen


def test_help_rows_group_by_scope_and_show_current_keys() -> None:
    catalog = {
        "thread.bump": Binding("k", "bump", "Bump", id="thread.bump"),
        "inbox.reply": Binding("r", "reply", "Reply", id="inbox.reply"),
        "zeta.thing": Binding("t", "thing", id="zeta.thing"),
        "app.help": Binding("question_mark", "help", "Help", id="app.help"),
        "list.down": Binding("j,down", "down", "Next", id="list.down"),
    }
    active = [catalog["inbox.reply"], Binding("ctrl+s", "save", "Save"),
              Binding("tab", "focus_next", "Focus", show=False)]
    rows = help_rows(catalog, {"inbox.reply": "ctrl+r,f2"}, App().get_key_display, active)
    assert [(r.scope, r.binding_id, r.keys, r.description, r.active) for r in rows] == [
        ("app", "app.help", "?", "Help", False),
        ("inbox", "inbox.reply", "^r f2", "Reply", True),
        ("list", "list.down", "j ↓", "Next", False),
        ("thread", "thread.bump", "k", "Bump", False),
        ("zeta", "zeta.thing", "t", "thing", False),
        ("other", "", "^s", "Save", True),
    ]
    assert all(row.active for row in help_rows(catalog, {}, App().get_key_display, None))


def table_text(table: DataTable[Any]) -> list[list[str]]:
    return [[str(cell) for cell in table.get_row_at(i)] for i in range(table.row_count)]


async def test_help_screen_lists_remapped_keys_and_closes() -> None:
    app = KeyApp()
    async with app.run_test(size=(100, 40)) as pilot:
        app.query_one(Counter).focus()
        apply_keymap(app, {"inbox.reply": "ctrl+r"}, binding_catalog(KeyApp, Counter))
        for close_key in ("escape", "q", "question_mark"):
            await pilot.press("question_mark")
            assert isinstance(app.screen, HelpScreen)
            rows = table_text(app.screen.query_one(DataTable))
            assert rows == [
                ["Anywhere", "", ""],
                ["?", "Help", "app.help"],
                ["Inbox", "", ""],
                ["^r", "Reply", "inbox.reply"],
                ["Conversation", "", ""],
                ["k", "Bump", "thread.bump"],
            ]
            hint = str(app.screen.query_one("#help-hint", Static).render())
            assert 'add "id" = "keys" under [keymap] in c.toml' in hint
            await pilot.press(close_key)
            assert not isinstance(app.screen, HelpScreen)
        # The keys shown are the keys that work: ctrl+r replies, r no longer does.
        await pilot.press("r", "ctrl+r")
        assert app.hits == ["reply"]


async def test_help_dims_bindings_that_do_not_work_on_the_screen_below() -> None:
    app = KeyApp()
    async with app.run_test(size=(100, 40)) as pilot:
        app.screen.set_focus(None)  # the thread widget is not focused: its key is inactive
        await pilot.press("question_mark")
        table = app.screen.query_one(DataTable)
        styles = {str(row[2]): row[1].style for row in map(table.get_row_at,
                                                            range(table.row_count))}
        assert styles["inbox.reply"] == ""
        assert styles["thread.bump"] == "dim"


@pytest.mark.parametrize("exists", [True, False])
async def test_the_inbox_help_names_the_config_file_in_use(tmp_path: Path, exists: bool) -> None:
    from tui.app import InboxApp

    path = tmp_path / "chosen.toml"
    if exists:
        path.write_text('relay = "ws://127.0.0.1:9/ws"\ntoken = "sd_x"\n')
        path.chmod(0o600)
    config = load_config(path)
    config.relay, config.token = "ws://127.0.0.1:9/ws", "sd_x"
    app = InboxApp(config, backoff=(30,))
    async with app.run_test() as pilot:
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        hint = str(app.screen.query_one("#help-hint", Static).render())
        assert str(path) in hint.replace("\n", "")
        assert ("not created yet" in hint) is not exists
