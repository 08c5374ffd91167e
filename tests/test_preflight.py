"""Send preflight: each Twilio/carrier rule refuses with the right code and a fix."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.models import Account, Contact, Media, NumberStatus, PhoneNumber, SenderType
from core.preflight import (
    MAX_BODY_CHARS,
    MAX_MEDIA,
    MAX_MEDIA_TOTAL_BYTES,
    Attachment,
    Field,
    MediaLike,
    Preflight,
    Refusal,
    is_accepted_media_type,
    preflight,
)

# Numbers phonenumbers considers valid. Ofcom's drama range (+447700900xxx) is
# not, so the UK numbers use the +447400 mobile range instead.
US_TOLL_FREE = "+18885550100"
US_LONG_CODE = "+12025550123"
UK_LONG_CODE = "+447400900456"
UK_MOBILE = "+447400900123"
UK_LANDLINE = "+441614960123"
US_MOBILE = "+12015550123"
CA_MOBILE = "+14165550123"
FR_MOBILE = "+33612345678"

MB = 1024 * 1024


def a_number(kind: str = "us_long_code", **changes: Any) -> PhoneNumber:
    """A ready-to-send number of each kind; ``changes`` break one thing at a time."""
    numbers = {
        "us_long_code": PhoneNumber(
            1, 1, US_LONG_CODE, mms=True, country="US", a2p_registered=True
        ),
        "toll_free": PhoneNumber(
            2, 1, US_TOLL_FREE, mms=True, country="US", sender_type=SenderType.TOLL_FREE
        ),
        "short_code": PhoneNumber(
            3, 1, "894546", mms=True, country="US", sender_type=SenderType.SHORT_CODE
        ),
        "uk_long_code": PhoneNumber(4, 1, UK_LONG_CODE, mms=False, country="GB"),
        "alphanumeric": PhoneNumber(
            5, 1, "ACMEHELP", country="GB", sender_type=SenderType.ALPHANUMERIC
        ),
    }
    return replace(numbers[kind], **changes)


def an_account(**changes: Any) -> Account:
    return replace(Account(1, "Acme Support", "AC" + "0" * 32, "token"), **changes)


def a_contact(**changes: Any) -> Contact:
    return replace(Contact(1, US_MOBILE, name="Dana"), **changes)


def check(
    *,
    number: PhoneNumber | None = None,
    account: Account | None = None,
    contact: Contact | None = None,
    to: str = US_MOBILE,
    body: str = "Your order shipped today.",
    attachments: Sequence[MediaLike] = (),
) -> Preflight:
    """Preflight a clean reply, with whatever the test changes."""
    return preflight(
        number=number or a_number(),
        account=account or an_account(),
        contact=contact or a_contact(),
        to=to,
        body=body,
        attachments=attachments,
    )


def only(result: Preflight) -> Refusal:
    """The single refusal a test expects."""
    assert len(result.refusals) == 1, result.refusals
    return result.refusals[0]


def photos(count: int, size: int = 100_000) -> list[Attachment]:
    return [Attachment(f"photo{i}.jpg", "image/jpeg", size) for i in range(count)]


# -- a clean reply from every kind of number -------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "to"),
    [
        ("us_long_code", US_MOBILE),  # registered for A2P 10DLC
        ("toll_free", US_MOBILE),
        ("short_code", US_MOBILE),
        ("uk_long_code", UK_MOBILE),
        ("alphanumeric", UK_MOBILE),
    ],
)
def test_clean_reply_is_ok_from_every_kind_of_number(kind: str, to: str) -> None:
    result = check(number=a_number(kind), to=to, contact=a_contact(phone=to))
    assert result.ok
    assert result.refusals == ()
    assert result.codes == ()


def test_attachments_from_an_mms_number_are_ok() -> None:
    assert check(attachments=photos(MAX_MEDIA)).ok


def test_stored_media_is_checked_like_new_attachments() -> None:
    assert check(attachments=[Media("image/png", 2 * MB, filename="receipt.png")]).ok
    refusal = only(check(attachments=[Media("application/zip", 10, filename="logs.zip")]))
    assert "logs.zip" in refusal.reason


# -- the message --------------------------------------------------------------------------


@pytest.mark.parametrize("body", ["", "   \n"])
def test_empty_body_without_attachments_is_refused(body: str) -> None:
    refusal = only(check(body=body))
    assert refusal.code == 21602
    assert refusal.field == Field.BODY
    assert "Type a reply or add an attachment" in refusal.reason


def test_empty_body_with_an_attachment_is_ok() -> None:
    assert check(body="", attachments=photos(1)).ok


def test_body_over_1600_characters_is_refused_saying_how_many_over() -> None:
    refusal = only(check(body="a" * 1650))
    assert refusal.code == 21617
    assert refusal.field == Field.BODY
    assert "1,650 characters, 50 over" in refusal.reason
    assert "Shorten it by 50 characters" in refusal.reason


def test_body_length_counts_code_points_not_bytes() -> None:
    assert check(body="😀" * MAX_BODY_CHARS).ok  # 6,400 bytes of UTF-8
    assert only(check(body="😀" * (MAX_BODY_CHARS + 1))).code == 21617


# -- attachments ----------------------------------------------------------------------------


def test_attachments_on_an_sms_only_number_are_refused() -> None:
    refusal = only(check(number=a_number(mms=False), attachments=photos(2)))
    assert refusal.code is None
    assert refusal.field == Field.ATTACHMENTS
    assert "SMS-only" in refusal.reason
    assert "text only" in refusal.reason
    assert "Remove the 2 attachments or reply from an MMS-enabled number" in refusal.reason


def test_one_attachment_on_an_sms_only_number_reads_naturally() -> None:
    refusal = only(check(number=a_number(mms=False), attachments=photos(1)))
    assert "Remove the attachment or" in refusal.reason


def test_more_than_10_attachments_are_refused() -> None:
    refusal = only(check(attachments=photos(12, size=1000)))
    assert refusal.code == 21623
    assert refusal.field == Field.ATTACHMENTS
    assert "12 attachments" in refusal.reason
    assert "Remove 2" in refusal.reason


def test_attachments_over_5_mb_in_total_are_refused_saying_total_and_limit() -> None:
    refusal = only(check(attachments=photos(3, size=2 * MB)))
    assert refusal.code is None
    assert refusal.field == Field.ATTACHMENTS
    assert "6 MB" in refusal.reason
    assert "at most 5 MB" in refusal.reason
    assert "by at least 1 MB" in refusal.reason


def test_attachments_of_exactly_5_mb_are_ok() -> None:
    assert check(attachments=[Attachment("video.mp4", "video/mp4", MAX_MEDIA_TOTAL_BYTES)]).ok


def test_a_total_barely_over_5_mb_does_not_read_as_5_mb() -> None:
    over = [Attachment("video.mp4", "video/mp4", MAX_MEDIA_TOTAL_BYTES + 1)]
    refusal = only(check(attachments=over))
    assert "just over 5 MB" in refusal.reason
    assert "1 byte" in refusal.reason


def test_unaccepted_content_type_is_refused_naming_file_and_type() -> None:
    refusal = only(
        check(
            attachments=[
                Attachment("invoice.pdf", "application/pdf", 1000),
                Attachment("notes.docx", "application/msword", 1000),
            ]
        )
    )
    assert refusal.code is None
    assert refusal.field == Field.ATTACHMENTS
    assert "notes.docx" in refusal.reason
    assert "application/msword" in refusal.reason
    assert "link" in refusal.reason


def test_each_unaccepted_file_gets_its_own_refusal() -> None:
    files = [Attachment("a.zip", "application/zip", 1), Attachment("", "", 1)]
    reasons = [refusal.reason for refusal in check(attachments=files).refusals]
    assert len(reasons) == 2
    assert "a.zip" in reasons[0]
    assert reasons[1].startswith("An attachment is of no stated type")


@pytest.mark.parametrize(
    "content_type",
    [
        "image/jpeg",
        "image/png",
        "image/gif",
        "IMAGE/PNG",
        "image/jpeg; charset=binary",
        "image/heic",
        "video/mp4",
        "video/H264",
        "audio/mpeg",
        "text/vcard",
        "text/calendar",
        "application/pdf",
    ],
)
def test_twilio_accepted_types(content_type: str) -> None:
    assert is_accepted_media_type(content_type)


@pytest.mark.parametrize(
    "content_type",
    [
        "",
        "text/plain",
        "text/html",
        "image/webp",  # WhatsApp stickers only
        "image/svg+xml",
        "application/msword",  # WhatsApp only
        "application/zip",
        "application/octet-stream",
        "jpeg",
    ],
)
def test_types_twilio_does_not_accept_for_mms(content_type: str) -> None:
    assert not is_accepted_media_type(content_type)


# -- the destination ------------------------------------------------------------------------


def test_missing_destination_is_refused() -> None:
    refusal = only(check(to="  "))
    assert refusal.code == 21604
    assert refusal.field == Field.TO
    assert "E.164" in refusal.reason


@pytest.mark.parametrize("to", ["12025550123", "+1202555", "call me", "+447700900123", "+"])
def test_invalid_destination_is_refused(to: str) -> None:
    refusal = only(check(to=to))
    assert refusal.code == 21211
    assert refusal.field == Field.TO
    assert "E.164" in refusal.reason


def test_formatted_destination_is_refused_with_the_e164_form() -> None:
    refusal = only(check(to="+1 (201) 555-0123"))
    assert refusal.code == 21211
    assert f"Write it as {US_MOBILE}" in refusal.reason


def test_invalid_destination_skips_the_country_rules() -> None:
    unregistered = a_number(a2p_registered=False)
    result = check(number=unregistered, to="+1202555", account=an_account(geo_permissions=("GB",)))
    assert result.codes == (21211,)


def test_uk_mobile_from_an_international_long_code_is_refused() -> None:
    refusal = only(check(to=UK_MOBILE, contact=a_contact(phone=UK_MOBILE)))
    assert refusal.code is None
    assert refusal.field == Field.NUMBER
    assert "1 June 2023" in refusal.reason
    assert UK_MOBILE in refusal.reason
    assert "UK long code, an Alphanumeric Sender ID or a short code" in refusal.reason


def test_uk_rule_reads_the_sender_country_from_the_number_when_unrecorded() -> None:
    assert not check(number=a_number(country=""), to=UK_MOBILE).ok


@pytest.mark.parametrize(
    ("number", "to"),
    [
        (a_number("uk_long_code"), UK_MOBILE),  # a domestic long code
        (a_number("short_code", country="GB"), UK_MOBILE),
        (a_number("alphanumeric"), UK_MOBILE),
        (a_number(), UK_LANDLINE),  # the block is for UK mobiles
    ],
)
def test_uk_rule_only_blocks_international_long_codes_to_mobiles(
    number: PhoneNumber, to: str
) -> None:
    assert check(number=number, to=to).ok


def test_us_destination_from_an_unregistered_us_long_code_is_refused() -> None:
    refusal = only(check(number=a_number(a2p_registered=False)))
    assert refusal.code == 30034
    assert refusal.field == Field.NUMBER
    assert "A2P 10DLC" in refusal.reason
    assert "toll-free" in refusal.reason


@pytest.mark.parametrize("kind", ["toll_free", "short_code"])
def test_toll_free_and_short_codes_need_no_10dlc_registration(kind: str) -> None:
    assert check(number=a_number(kind, a2p_registered=False)).ok


def test_10dlc_rule_is_for_us_destinations_only() -> None:
    assert check(number=a_number(a2p_registered=False), to=CA_MOBILE).ok


@pytest.mark.parametrize("to", [US_MOBILE, CA_MOBILE])
def test_alphanumeric_sender_cannot_text_us_or_canada(to: str) -> None:
    refusal = only(check(number=a_number("alphanumeric"), to=to))
    assert refusal.code == 21612
    assert refusal.field == Field.NUMBER
    assert "Alphanumeric Sender ID" in refusal.reason


def test_country_outside_geo_permissions_is_refused_by_name() -> None:
    refusal = only(check(to=FR_MOBILE, account=an_account(geo_permissions=("US", "CA"))))
    assert refusal.code == 21408
    assert refusal.field == Field.TO
    assert "France (FR)" in refusal.reason
    assert "Twilio console > Messaging > Settings > Geo permissions" in refusal.reason


@pytest.mark.parametrize("permitted", [(), ("FR",), ("us", "fr")])
def test_geo_permissions_allow_listed_or_unconfigured_countries(
    permitted: tuple[str, ...],
) -> None:
    assert check(to=FR_MOBILE, account=an_account(geo_permissions=permitted)).ok


# -- the contact, the number, the account -------------------------------------------------------


def test_opted_out_contact_is_refused() -> None:
    refusal = only(check(contact=a_contact(opted_out=True)))
    assert refusal.code == 21610
    assert refusal.field == Field.CONTACT
    assert "Dana replied STOP" in refusal.reason
    assert f"text START to {US_LONG_CODE}" in refusal.reason


@pytest.mark.parametrize(
    ("changes", "state"),
    [
        ({"enabled": False}, "disabled in smsdesk"),
        ({"status": NumberStatus.INACTIVE}, "not active in Twilio"),
        ({"enabled": False, "status": NumberStatus.INACTIVE}, "disabled in smsdesk and not"),
    ],
)
def test_disabled_or_inactive_number_is_refused(changes: dict[str, Any], state: str) -> None:
    refusal = only(check(number=a_number(friendly_name="Support", **changes)))
    assert refusal.code is None
    assert refusal.field == Field.NUMBER
    assert f"{US_LONG_CODE} (Support) is {state}" in refusal.reason
    assert "An admin must enable it" in refusal.reason


def test_disconnected_account_is_refused() -> None:
    refusal = only(check(account=an_account(connected=False)))
    assert refusal.field == Field.ACCOUNT
    assert "reconnect" in refusal.reason
    assert "Account SID and auth token" in refusal.reason


@pytest.mark.parametrize("status", ["suspended", "closed"])
def test_inactive_account_is_refused(status: str) -> None:
    refusal = only(check(account=an_account(status=status)))
    assert refusal.code == 10001
    assert status in refusal.reason


# -- all at once --------------------------------------------------------------------------------


def test_every_refusal_that_applies_is_returned_in_a_stable_order() -> None:
    result = check(
        number=a_number(a2p_registered=False, mms=False, enabled=False),
        contact=a_contact(opted_out=True),
        body="x" * 1700,
        attachments=[*photos(MAX_MEDIA), Attachment("tool.exe", "application/x-msdownload", 1)],
    )
    assert not result.ok
    assert result.codes == (21617, None, 21623, None, 30034, 21610, None)
    fields = [refusal.field for refusal in result.refusals]
    assert fields == [
        Field.BODY,
        Field.ATTACHMENTS,  # SMS-only number
        Field.ATTACHMENTS,  # 11 attachments
        Field.ATTACHMENTS,  # tool.exe
        Field.NUMBER,  # unregistered 10DLC
        Field.CONTACT,  # opted out
        Field.NUMBER,  # disabled
    ]


# -- properties ---------------------------------------------------------------------------------

FAST = settings(deadline=None, max_examples=60)


@FAST
@given(st.text(max_size=MAX_BODY_CHARS))
def test_no_body_within_the_limit_is_ever_too_long(body: str) -> None:
    assert 21617 not in check(body=body).codes


@FAST
@given(st.text(min_size=MAX_BODY_CHARS + 1, max_size=MAX_BODY_CHARS + 200))
def test_every_body_over_the_limit_is_too_long(body: str) -> None:
    assert 21617 in check(body=body).codes


@FAST
@given(st.integers(min_value=0, max_value=3 * MAX_MEDIA))
def test_attachment_count_is_refused_exactly_above_10(count: int) -> None:
    result = check(attachments=photos(count, size=1))
    assert (21623 in result.codes) is (count > MAX_MEDIA)


@FAST
@given(st.integers(min_value=MAX_MEDIA_TOTAL_BYTES - 3, max_value=MAX_MEDIA_TOTAL_BYTES + 3))
def test_total_size_is_refused_exactly_above_5_mb(total: int) -> None:
    half = total // 2
    result = check(attachments=photos(1, size=half) + photos(1, size=total - half))
    assert result.ok is (total <= MAX_MEDIA_TOTAL_BYTES)


@FAST
@given(st.lists(st.integers(min_value=0, max_value=2 * MB), max_size=MAX_MEDIA))
def test_any_sizes_are_refused_only_when_they_add_up_to_over_5_mb(sizes: list[int]) -> None:
    attachments = [Attachment(f"p{i}.png", "image/png", size) for i, size in enumerate(sizes)]
    assert check(attachments=attachments).ok is (sum(sizes) <= MAX_MEDIA_TOTAL_BYTES)


numbers = st.builds(
    PhoneNumber,
    id=st.just(1),
    account_id=st.just(1),
    e164=st.one_of(st.text(max_size=20), st.sampled_from([US_LONG_CODE, UK_LONG_CODE, "ACME"])),
    mms=st.booleans(),
    status=st.sampled_from(NumberStatus),
    sender_type=st.sampled_from(SenderType),
    country=st.one_of(st.text(max_size=3), st.sampled_from(["US", "GB", "CA", ""])),
    a2p_registered=st.booleans(),
    enabled=st.booleans(),
    friendly_name=st.text(max_size=20),
)
accounts = st.builds(
    Account,
    id=st.just(1),
    name=st.text(max_size=20),
    sid=st.just("AC"),
    auth_token=st.just("t"),
    geo_permissions=st.lists(st.text(max_size=3), max_size=3).map(tuple),
    status=st.text(max_size=10),
    connected=st.booleans(),
)
contacts = st.builds(
    Contact, id=st.just(1), phone=st.text(max_size=20), name=st.text(max_size=20),
    opted_out=st.booleans(),
)  # fmt: skip
attachment_lists = st.lists(
    st.builds(Attachment, st.text(max_size=30), st.text(max_size=30), st.integers(0, 6 * MB)),
    max_size=12,
)
destinations = st.one_of(
    st.text(), st.sampled_from([US_MOBILE, UK_MOBILE, CA_MOBILE, FR_MOBILE, UK_LANDLINE])
)


@settings(deadline=None, max_examples=150)
@given(
    number=numbers,
    account=accounts,
    contact=contacts,
    to=destinations,
    body=st.text(max_size=2000),
    attachments=attachment_lists,
)
def test_preflight_never_raises_it_refuses(
    number: PhoneNumber,
    account: Account,
    contact: Contact,
    to: str,
    body: str,
    attachments: list[Attachment],
) -> None:
    result = preflight(
        number=number, account=account, contact=contact, to=to, body=body, attachments=attachments
    )
    assert result.ok is (not result.refusals)
    for refusal in result.refusals:
        assert refusal.reason.strip()
        assert refusal.field in set(Field)


def test_country_names_agree_with_the_phonenumbers_geocoder() -> None:
    """core.country_names is a copy (the geocoder costs 100 MB to import): keep it true."""
    import phonenumbers
    from phonenumbers.geocoder import country_name_for_number

    from core.country_names import COUNTRY_NAMES

    for region in phonenumbers.SUPPORTED_REGIONS:
        example = phonenumbers.example_number(region)
        expected = country_name_for_number(example, "en") if example else ""
        assert COUNTRY_NAMES.get(region, "") == expected, region


# -- a number Twilio delivered to us ---------------------------------------------------------

DRAMA_RANGE = "+447700900321"  # Ofcom's drama range: libphonenumber calls it invalid


def test_a_number_twilio_delivered_is_never_refused_on_metadata_alone() -> None:
    result = check(number=a_number("uk_long_code"), to=DRAMA_RANGE,
                   contact=a_contact(phone=DRAMA_RANGE))
    assert result.ok, result.refusals
    assert [w.code for w in result.warnings] == [21211]
    assert "Twilio" in result.warnings[0].reason


def test_a_typed_number_the_metadata_calls_invalid_is_still_refused() -> None:
    result = check(number=a_number("uk_long_code"), to=DRAMA_RANGE)
    assert result.codes == (21211,)
    assert result.warnings == ()


def test_a_delivered_number_outside_the_metadata_still_meets_the_geo_permissions() -> None:
    result = check(number=a_number("uk_long_code"), to=DRAMA_RANGE,
                   contact=a_contact(phone=DRAMA_RANGE),
                   account=an_account(geo_permissions=("US",)))
    assert result.codes == (21408,)


@pytest.mark.parametrize("phone", ["447700900321", "+44 7700 900321", "+0447700900321"])
def test_a_malformed_contact_number_is_refused(phone: str) -> None:
    result = check(to=phone, contact=a_contact(phone=phone))
    assert result.codes == (21211,)
