"""The composer's side of canned responses: inserting one, its attachments, its placeholders."""

from __future__ import annotations

from pathlib import Path

from test_tui_composer import Host, area, context

from tui.widgets.composer import Composer, PendingFile

PHOTO = PendingFile(Path(), "map.png", "image/png", 2048, "a" * 64)


async def test_the_text_inserts_at_the_cursor_and_the_attachments_join_the_reply() -> None:
    app = Host(context(mms=True))
    async with app.run_test() as pilot:
        area(app).insert("Hello. ")
        app.query_one(Composer).insert_canned("Here is the map.", (PHOTO,))
        await pilot.pause()
        composer = app.query_one(Composer)
        assert area(app).text == "Hello. Here is the map."
        assert composer.attachments == (PHOTO,)
        composer.insert_canned(" Again.", (PHOTO,))  # the same file is not attached twice
        await pilot.pause()
        assert composer.attachments == (PHOTO,)


async def test_on_an_sms_only_number_the_text_inserts_and_the_composer_says_why_files_stay_out(
        ) -> None:
    app = Host(context(mms=False))
    async with app.run_test() as pilot:
        composer = app.query_one(Composer)
        composer.insert_canned("Here is the map.", (PHOTO,))
        await pilot.pause()
        assert area(app).text == "Here is the map." and composer.attachments == ()
        assert "+18885550100 is SMS-only" in composer.verdict_text()


async def test_an_unfilled_placeholder_is_highlighted_and_the_send_refused_before_the_relay(
        ) -> None:
    app = Host(context())
    async with app.run_test() as pilot:
        composer = app.query_one(Composer)
        composer.insert_canned("Hi {{ contact.name }}, and {{not ours}}")
        await pilot.pause()
        assert "Fill in {{contact.name}} first" in composer.verdict_text()
        styled = [(s.start, s.end) for s in area(app).get_line(0).spans]
        assert styled == [(3, 21)]  # the placeholder; "{{not ours}}" is the customer's text
        await pilot.press("ctrl+s")
        assert app.submitted == []
