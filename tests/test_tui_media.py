"""The thread's media: attachments labelled in words, a GIF's first frame inline, saving
an attachment with ``S`` (never over a file unasked), and the bot's texts labelled."""

from __future__ import annotations

from datetime import UTC
from pathlib import Path
from typing import Any, ClassVar

import pytest
from PIL import GifImagePlugin, Image
from test_tui_views import NOW, ROW, Harness, Names, message, screen_text
from textual.binding import Binding, BindingType
from textual.widgets import Input

from server.simulator.content import sample
from tui.screens.pickers import ChoiceScreen
from tui.widgets import render
from tui.widgets.save_media import SaveMedia, default_name, target_for, write_new
from tui.widgets.thread_view import ThreadView, attachment_label, kind_in_words

pytestmark = pytest.mark.filterwarnings("ignore:Image.Image.getdata:DeprecationWarning")

GIF = sample("gif").media[0][1]
PDF = sample("pdf").media[0][1]


@pytest.fixture(autouse=True)
def frozen_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(render, "clock", lambda: NOW)
    monkeypatch.setattr(render, "timezone", UTC)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A home of the test's own: ~/Downloads is under it."""
    monkeypatch.setenv("HOME", str(tmp_path))
    return tmp_path


def media(content_type: str, size: int, name: str = "", sha: str = "a") -> dict[str, Any]:
    return {"content_type": content_type, "size": size, "sha256": sha * 64, "filename": name}


class Inbox(Harness):
    """The thread view under a screen-like parent with the inbox's own ``S`` (scenarios)."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("S", "scenario", "Run scenario")]

    def __init__(self, widget: Any) -> None:
        super().__init__(widget)
        self.scenarios = 0

    def action_scenario(self) -> None:
        self.scenarios += 1


# -- labels -------------------------------------------------------------------------------------
@pytest.mark.parametrize(("content_type", "words"), [
    ("video/mp4", "video"), ("video/quicktime", "video"), ("audio/mpeg", "audio"),
    ("audio/ogg; codecs=opus", "audio"), ("application/pdf", "PDF"), ("image/gif", "GIF"),
    ("text/vcard", "contact card"), ("text/x-vcard", "contact card"), ("image/png", "image"),
    ("text/csv", "file"), ("application/vnd.apple.pkpass", "file"), ("", "file"),
])
def test_an_attachment_is_named_in_words(content_type: str, words: str) -> None:
    assert kind_in_words({"content_type": content_type}) == words


async def test_non_image_media_are_labelled_attachments_with_size_and_name() -> None:
    attached = [media("video/mp4", 144, "noise.mp4", "1"), media("audio/mpeg", 1668, "", "2"),
                media("application/pdf", 586, "invoice.pdf", "3"),
                media("text/vcard", 97, "contact.vcf", "4"),
                media("application/zip", 3 * 1024 * 1024, "logs.zip", "5")]
    view = ThreadView(Names())
    async with Harness(view).run_test(size=(80, 20)) as pilot:
        view.show(ROW, [message(1, body="Files", media=attached)], has_older=False)
        await pilot.pause()
        lines = [line.strip(" ▌") for line in screen_text(view)]
    assert [line for line in lines if line.startswith("📎")] == [
        "📎 video · 144 B · noise.mp4", "📎 audio · 2 KB", "📎 PDF · 586 B · invoice.pdf",
        "📎 contact card · 97 B · contact.vcf", "📎 file · 3.0 MB · logs.zip"]


async def test_a_gif_shows_its_first_frame_still_with_a_gif_label() -> None:
    view = ThreadView(Names())
    view.media.put("g" * 64, GIF)
    gif = media("image/gif", len(GIF), "reaction.gif", "g")
    async with Harness(view).run_test(size=(80, 20)) as pilot:
        view.show(ROW, [message(1, body="lol", media=[gif])], has_older=False)
        await pilot.pause()
        lines = screen_text(view)
        rows = [y for y, line in enumerate(lines) if "▀" in line]
        assert len(rows) == 4  # 12x8 px: 4 rows of two pixels
        middle = [seg for seg in view.render_line(rows[2]) if seg.text == "▀"]
        colours = {seg.style.color.triplet for seg in middle}
        assert (220, 40, 40) in colours  # the first frame's red square ...
        assert (40, 70, 220) not in colours  # ... never the second frame's blue one
        assert lines[rows[-1] + 1].strip(" ▌") == f"▶ GIF · {len(GIF)} B · reaction.gif"
        assert view._heights == [len(view._plan(view.entries[0], view._width))]


async def test_first_frame_is_forced_even_from_a_gif_left_on_another_frame(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Pillow opens a GIF on frame 0; the view seeks there itself all the same."""
    seeks: list[int] = []
    original = GifImagePlugin.GifImageFile.seek

    def seek(image: Image.Image, frame: int) -> None:
        seeks.append(frame)
        original(image, frame)

    monkeypatch.setattr(GifImagePlugin.GifImageFile, "seek", seek)
    view = ThreadView(Names())
    view.media.put("g" * 64, GIF)
    async with Harness(view).run_test(size=(80, 20)) as pilot:
        view.show(ROW, [message(1, media=[media("image/gif", len(GIF), "", "g")])],
                  has_older=False)
        await pilot.pause()
        screen_text(view)
    assert seeks and seeks[0] == 0


async def test_a_bot_text_is_labelled_bot_where_the_agent_goes() -> None:
    view = ThreadView(Names())
    entries = [message(1, body="hours?"),
               message(2, body="We're open Mon-Fri 9:00-17:30.", by_bot=True,
                       author_agent_id=None),
               message(4, body="Anything else?", author_agent_id=2)]
    async with Harness(view).run_test(size=(80, 20)) as pilot:
        view.show(ROW, entries, has_older=False)
        await pilot.pause()
        lines = [line.strip(" ▌") for line in screen_text(view)]
        heads = [line for line in lines if line.startswith(("←", "→"))]
    assert heads[1].startswith("→ 🤖 Bot · ") and heads[2].startswith("→ Grace · ")


# -- saving -------------------------------------------------------------------------------------
def test_default_names_keep_the_files_own_or_make_one_from_type_and_hash() -> None:
    assert default_name(media("application/pdf", 1, "invoice.pdf")) == "invoice.pdf"
    assert default_name(media("video/mp4", 1, "", "1")) == "video-11111111.mp4"
    assert default_name(media("application/pdf", 1, "../../etc/passwd")) == "passwd"


def test_a_folder_is_completed_with_the_name(tmp_path: Path) -> None:
    assert target_for(str(tmp_path), "a.pdf") == tmp_path / "a.pdf"
    assert target_for("x/b.pdf", "a.pdf", base=tmp_path) == tmp_path / "x" / "b.pdf"


def test_write_new_never_replaces_unless_told(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "a.bin"
    write_new(path, b"one")
    with pytest.raises(FileExistsError):
        write_new(path, b"two")
    assert path.read_bytes() == b"one"
    write_new(path, b"two", replace=True)
    assert path.read_bytes() == b"two" and sorted(p.name for p in path.parent.iterdir()) == [
        "a.bin"]


def _invoice_thread() -> Harness:
    """A thread whose one entry carries invoice.pdf, its bytes already fetched."""
    view = ThreadView(Names())
    view.media.put("p" * 64, PDF)
    view.show(ROW, [message(1, media=[media("application/pdf", len(PDF), "invoice.pdf", "p")])],
              has_older=False)
    return Harness(view)


async def _enter_and_write(app: Harness, pilot: Any) -> None:
    await pilot.press("enter")
    await app.workers.wait_for_complete()
    await pilot.pause()


async def _saving(app: Harness, pilot: Any) -> SaveMedia:
    await pilot.press("S")
    await pilot.pause()
    assert isinstance(app.screen, SaveMedia)
    return app.screen


async def test_s_saves_to_downloads_by_default(home: Path) -> None:
    app = _invoice_thread()
    async with app.run_test(size=(90, 24)) as pilot:
        screen = await _saving(app, pilot)
        assert screen.query_one(Input).value == str(home / "Downloads" / "invoice.pdf")
        await _enter_and_write(app, pilot)
        assert (home / "Downloads" / "invoice.pdf").read_bytes() == PDF
        assert list(app._notifications)[-1].message == (
            f"Saved to {home / 'Downloads' / 'invoice.pdf'}")


def _mine_in_downloads(home: Path) -> Path:
    """~/Downloads/invoice.pdf, already there: the agent's own file, not to be lost."""
    path = home / "Downloads" / "invoice.pdf"
    path.parent.mkdir()
    path.write_bytes(b"mine")
    return path


async def test_an_existing_file_is_replaced_only_on_a_second_enter(home: Path) -> None:
    target = _mine_in_downloads(home)
    app = _invoice_thread()
    async with app.run_test(size=(90, 24)) as pilot:
        screen = await _saving(app, pilot)
        await pilot.press("enter")
        await pilot.pause()
        assert app.screen is screen
        assert "already exists" in str(screen.query_one("#save-error").render())
        assert target.read_bytes() == b"mine"
        await _enter_and_write(app, pilot)
        assert target.read_bytes() == PDF


async def test_another_name_after_the_warning_saves_beside_it(home: Path) -> None:
    existing = _mine_in_downloads(home)
    app = _invoice_thread()
    async with app.run_test(size=(90, 24)) as pilot:
        screen = await _saving(app, pilot)
        await pilot.press("enter")
        screen.query_one(Input).value = str(home)  # a folder: saved in it under the name
        await _enter_and_write(app, pilot)
    assert existing.read_bytes() == b"mine" and (home / "invoice.pdf").read_bytes() == PDF


async def test_escape_saves_nothing(home: Path) -> None:
    app = _invoice_thread()
    async with app.run_test(size=(90, 24)) as pilot:
        await _saving(app, pilot)
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is not None and not isinstance(app.screen, SaveMedia)
    assert not (home / "Downloads").exists()


async def test_an_attachment_not_fetched_yet_is_saved_when_it_arrives(home: Path) -> None:
    video = sample("mp4").media[0][1]
    view = ThreadView(Names())
    app = Harness(view)
    async with app.run_test(size=(90, 24)) as pilot:
        view.show(ROW, [message(1, media=[media("video/mp4", len(video), "", "v")])],
                  has_older=False)
        await _saving(app, pilot)
        await pilot.press("enter")
        await pilot.pause()
        assert [m.sha256 for m in app.of(ThreadView.MediaWanted)] == ["v" * 64]
        assert "saved when it arrives" in list(app._notifications)[-1].message
        view.media.put("v" * 64, video)
        view.media_ready("v" * 64)
        await app.workers.wait_for_complete()
        await pilot.pause()
    assert (home / "Downloads" / f"video-{'v' * 8}.mp4").read_bytes() == video


async def test_s_on_an_entry_without_attachments_is_the_inboxs_s(home: Path) -> None:
    view = ThreadView(Names())
    view.media.put("p" * 64, PDF)
    app = Inbox(view)
    async with app.run_test(size=(90, 24)) as pilot:
        view.show(ROW, [message(1, media=[media("application/pdf", 5, "x.pdf", "p")]),
                        message(2, body="plain text")], has_older=False)
        await pilot.press("S")  # the newest entry, no attachment: the scenario key
        await pilot.pause()
        assert app.scenarios == 1 and not isinstance(app.screen, SaveMedia)
        await pilot.press("k", "S")
        await pilot.pause()
        assert app.scenarios == 1 and isinstance(app.screen, SaveMedia)


def test_the_save_binding_has_its_id() -> None:
    ids = {b.id: b.key for b in ThreadView.BINDINGS if isinstance(b, Binding)}
    assert ids["thread.save_media"] == "S" and ids["thread.open_media"] == "o"
    assert attachment_label(media("audio/ogg", 155, "voice.ogg")) == "audio · 155 B · voice.ogg"


# -- snapshot -----------------------------------------------------------------------------------
def test_snapshot_thread_with_media_and_the_bot(snap_compare: Any) -> None:
    view = ThreadView(Names())
    view.media.put("g" * 64, GIF)
    entries = [
        message(1, body="Hi, my order 4417 never came", channel="sms"),
        message(2, body="Hi, this is Acme Support. Reply 1 for billing, 2 for shipping.",
                by_bot=True, author_agent_id=None),
        message(3, body="2. Here's the invoice and a video of the box", channel="mms",
                media=[media("application/pdf", len(PDF), "invoice.pdf", "p"),
                       media("video/mp4", 144, "", "1"), media("audio/ogg", 155, "", "2"),
                       media("text/vcard", 97, "contact.vcf", "4")]),
        message(4, body="Thanks! A person will answer shortly.", by_bot=True,
                author_agent_id=None),
        message(5, body="lol", channel="mms",
                media=[media("image/gif", len(GIF), "reaction.gif", "g")]),
    ]
    app = Harness(view)

    def load(pilot: Any) -> None:
        view.show(ROW, entries, has_older=False)

    assert snap_compare(app, terminal_size=(90, 34), run_before=load)



async def test_with_several_attachments_s_asks_which_first(home: Path) -> None:
    view = ThreadView(Names())
    view.media.put("p" * 64, PDF)
    attached = [media("image/png", 10, "box.png", "b"),
                media("application/pdf", len(PDF), "invoice.pdf", "p")]
    app = Harness(view)
    async with app.run_test(size=(90, 24)) as pilot:
        view.show(ROW, [message(1, media=attached)], has_older=False)
        await pilot.press("S")
        await pilot.pause()
        assert isinstance(app.screen, ChoiceScreen)
        await pilot.press("down", "enter")
        await pilot.pause()
        assert isinstance(app.screen, SaveMedia)
        assert app.screen.query_one(Input).value == str(home / "Downloads" / "invoice.pdf")
        await _enter_and_write(app, pilot)
    assert (home / "Downloads" / "invoice.pdf").read_bytes() == PDF
    assert not (home / "Downloads" / "box.png").exists()


async def test_with_several_attachments_o_asks_which_and_escape_opens_none(
        monkeypatch: pytest.MonkeyPatch) -> None:
    opened: list[str] = []
    monkeypatch.setattr(ThreadView, "_open_media", lambda self, item: opened.append(
        item["filename"]))
    view = ThreadView(Names())
    attached = [media("video/mp4", 10, "a.mp4", "1"), media("audio/mpeg", 10, "b.mp3", "2")]
    app = Harness(view)
    async with app.run_test(size=(90, 24)) as pilot:
        view.show(ROW, [message(1, media=attached)], has_older=False)
        await pilot.press("o")
        await pilot.pause()
        assert isinstance(app.screen, ChoiceScreen)
        await pilot.press("escape")
        await pilot.pause()
        assert opened == []
        await pilot.press("o", "down", "enter")
        await pilot.pause()
    assert opened == ["b.mp3"]
