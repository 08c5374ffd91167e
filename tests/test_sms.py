"""Tests for core.sms: Twilio's segment rules, checked against Twilio's own numbers.

Concrete cases come from the calculator's test suite (tests/index.test.js, segments.test.js) and
from its manual test plan, whose predictions were confirmed against live Twilio billing
(TwilioDevEd/message-segment-calculator issue #66).  The property tests also re-implement the
calculator's bit-level segment builder and check that our packer agrees with it.
"""

import subprocess
import sys
import timeit
from itertools import accumulate

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.sms import (
    GSM7_MULTI_SEGMENT,
    SMART_ENCODING_MAP,
    UCS2_MULTI_SEGMENT,
    analyze,
    grapheme_clusters,
    is_gsm7,
    smart_encode,
    suggest_smart_encoding,
)

GSM_BASIC = (
    "\n\r !\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz"
    "¡£¤¥§¿ÄÅÆÇÉÑÖØÜßàäåæèéìñòöøùüΓΔΘΛΞΠΣΦΨΩ"
)
GSM_EXTENSION = "\f[\\]^{|}~€"
DIGITS = "1234567890" * 40

FAMILY = "👨\u200d👩\u200d👧\u200d👦"  # 4 emoji joined by ZWJ: 11 code units
RAINBOW_FLAG = "🏳\ufe0f\u200d🌈"  # 6 code units
ENGLAND_FLAG = "🏴\U000e0067\U000e0062\U000e0065\U000e006e\U000e0067\U000e007f"  # tag sequence
THUMBS_UP_MEDIUM = "👍🏽"  # emoji + skin-tone modifier
KEYCAP_ONE = "1\ufe0f\u20e3"
ITALY = "🇮🇹"  # two regional indicators
E_ACUTE_DECOMPOSED = "e\u0301"

FAST = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def utf16_units(text: str) -> int:
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def septets(text: str) -> int:
    return sum(2 if c in GSM_EXTENSION else 1 for c in text)


def twilio_segments(atom_bits: list[int]) -> list[int]:
    """Port of the calculator's SegmentedMessage._buildSegments + Segment.addHeader (v1.3.0).

    Works in bits like the original: 1120 per segment, six 8-bit User Data Header entries added to
    every segment of a multi-segment message; when the second segment opens, the first gets its
    header and hands over whatever no longer fits.  Returns the number of atoms per segment.
    """
    udh = 6 * 8
    segments: list[list[int]] = [[]]
    headers = [0]

    def free(k: int) -> int:
        return 1120 - headers[k] - sum(segments[k])

    for bits in atom_bits:
        if free(len(segments) - 1) < bits:
            previous = len(segments) - 1
            segments.append([])
            headers.append(udh)
            if headers[previous] == 0:
                headers[previous] = udh
                moved: list[int] = []
                while free(previous) < 0:
                    moved.insert(0, segments[previous].pop())
                segments[-1].extend(moved)
        segments[-1].append(bits)
    return [len(s) for s in segments]


# --- GSM-7 ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("length", "sizes"),
    [(1, (1,)), (160, (160,)), (161, (153, 8)), (306, (153, 153)), (307, (153, 153, 1))],
)
def test_gsm7_segment_boundaries(length: int, sizes: tuple[int, ...]) -> None:
    result = analyze(DIGITS[:length])
    assert result.encoding == "GSM-7"
    assert result.segments == len(sizes)
    assert result.segment_sizes == sizes
    assert result.characters == length
    assert result.non_gsm == ()


def test_gsm7_three_segments_last_holds_one_character() -> None:
    # segments.test.js: 307 digits, the third segment holds only the final "7".
    assert analyze(DIGITS[:307]).segment_texts[-1] == "7"


@pytest.mark.parametrize("escape_char", list(GSM_EXTENSION))
def test_extension_characters_cost_two_septets(escape_char: str) -> None:
    one = analyze(escape_char + DIGITS[:158])  # index.test.js: 160 septets, 1 segment
    assert (one.encoding, one.segments, one.characters) == ("GSM-7", 1, 160)
    two = analyze(escape_char + DIGITS[:159])  # 161 septets, 2 segments
    assert (two.encoding, two.segments, two.characters) == ("GSM-7", 2, 161)


def test_escape_pair_at_152_153_moves_to_next_segment() -> None:
    result = analyze("a" * 152 + "€" + "b" * 10)
    assert result.segment_sizes == (152, 12)
    assert result.segment_texts[1].startswith("€")
    # One septet earlier the pair fits exactly.
    assert analyze("a" * 151 + "€" + "b" * 10).segment_sizes == (153, 10)


def test_remaining_in_segment() -> None:
    assert analyze("a" * 150).remaining_in_segment == 10
    assert analyze("a" * 150).per_segment_limit == 160
    assert analyze("a" * 161).remaining_in_segment == GSM7_MULTI_SEGMENT - 8
    assert analyze("a" * 161).per_segment_limit == GSM7_MULTI_SEGMENT
    assert analyze("ж" * 71).remaining_in_segment == UCS2_MULTI_SEGMENT - 4


def test_gsm7_may_split_cr_from_lf_like_twilio() -> None:
    # The calculator counts CR LF as two independent septets, and so do we in GSM-7.
    result = analyze("a" * 152 + "\r\n" + "b" * 10)
    assert result.segment_texts[0].endswith("\r")
    assert result.segment_texts[1].startswith("\n")


def test_empty_body_is_zero_segments() -> None:
    result = analyze("")
    assert (result.encoding, result.segments, result.characters) == ("GSM-7", 0, 0)
    assert result.segment_texts == ()
    assert result.remaining_in_segment == result.per_segment_limit == 160


# --- UCS-2 ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("char", ["Á", "Ú", "ú", "ç", "í", "Í", "ó", "Ó", "ж", "中"])
def test_ucs2_70_units_is_one_segment_71_is_two(char: str) -> None:
    assert analyze(char * 70).segments == 1
    result = analyze(char * 71)
    assert (result.encoding, result.segments, result.segment_sizes) == ("UCS-2", 2, (67, 4))


@pytest.mark.parametrize(
    ("body", "segments", "units"),
    [  # index.test.js "Basic tests"
        ("😜" + DIGITS[1:69], 1, 70),
        ("😜" + DIGITS[1:70], 2, 71),
        ("😜" + DIGITS[1:134], 3, 135),
        (ITALY + DIGITS[2:68], 1, 70),
        (ITALY + DIGITS[2:69], 2, 71),
        (RAINBOW_FLAG + DIGITS[1:65], 1, 70),
        (RAINBOW_FLAG + DIGITS[1:66], 2, 71),
        ("😀" + "]" * 68, 1, 70),  # issue #18: "]" is one unit in UCS-2, not two
        ("😀" + "]" * 69, 2, 71),
        ("e\u0301\u0301\u0301" + "a" * 66, 1, 70),  # issue #17: combining marks count
        ("e\u0301\u0301\u0301" + "a" * 67, 2, 71),
    ],
)
def test_twilio_calculator_ucs2_cases(body: str, segments: int, units: int) -> None:
    result = analyze(body)
    assert (result.encoding, result.segments, result.characters) == ("UCS-2", segments, units)


def test_ucs2_three_segments_last_holds_one_character() -> None:
    # segments.test.js: the third segment of the 135-unit message holds only the final "4".
    assert analyze("😜" + DIGITS[1:134]).segment_texts[-1] == "4"


def test_emoji_at_67_boundary_is_not_split() -> None:
    result = analyze("ж" * 66 + "😀" + "ж" * 10)
    assert result.segment_sizes == (66, 12)
    assert result.segment_texts[1].startswith("😀")


@pytest.mark.parametrize(
    "cluster",
    [
        ITALY,
        FAMILY,
        THUMBS_UP_MEDIUM,
        KEYCAP_ONE,
        ENGLAND_FLAG,
        RAINBOW_FLAG,
        E_ACUTE_DECOMPOSED,
        "🐻\u200d❄\ufe0f",
        "❤\ufe0f",
        "\r\n",
    ],
)
def test_cluster_at_67_boundary_is_not_split(cluster: str) -> None:
    units = utf16_units(cluster)
    body = "ж" * (UCS2_MULTI_SEGMENT - units + 1) + cluster + "ж" * 10  # cluster straddles 67
    result = analyze(body)
    assert result.segment_texts[0] == "ж" * (UCS2_MULTI_SEGMENT - units + 1)
    assert result.segment_texts[1].startswith(cluster)
    assert grapheme_clusters(cluster) == (cluster,)


def test_one_non_gsm_character_forces_ucs2() -> None:
    assert analyze("a" * 101).segments == 1
    result = analyze("a" * 100 + "ж" + "a")
    assert (result.encoding, result.segments) == ("UCS-2", 2)
    assert result.non_gsm == ("ж",)


def test_non_gsm_lists_whole_clusters_once_in_order() -> None:
    result = analyze(f"Hi {FAMILY} ж and {ITALY}, ж {FAMILY} {E_ACUTE_DECOMPOSED}€")
    assert result.non_gsm == (FAMILY, "ж", ITALY, E_ACUTE_DECOMPOSED)


def test_non_gsm_finds_a_character_also_used_inside_a_cluster() -> None:
    # "😀" first appears with a skin tone attached and only later on its own; the ZWJ and the
    # skin tone never stand alone, so they are not listed by themselves.
    result = analyze(f"😀🏽 x ж {FAMILY} 😀 ж")
    assert result.non_gsm == ("😀🏽", "ж", FAMILY, "😀")


def test_cluster_longer_than_a_segment_is_split_between_code_points() -> None:
    zalgo = "a" + "\u0301" * 100  # one grapheme cluster of 101 code units
    result = analyze(zalgo)
    assert result.segment_sizes == (67, 34)
    assert "".join(result.segment_texts) == zalgo


def test_grapheme_clusters() -> None:
    text = (
        f"a\r\nb{ITALY}🇫🇷{THUMBS_UP_MEDIUM}{KEYCAP_ONE}{E_ACUTE_DECOMPOSED}{FAMILY}{ENGLAND_FLAG}"
    )
    assert grapheme_clusters(text) == (
        "a",
        "\r\n",
        "b",
        ITALY,
        "🇫🇷",
        THUMBS_UP_MEDIUM,
        KEYCAP_ONE,
        E_ACUTE_DECOMPOSED,
        FAMILY,
        ENGLAND_FLAG,
    )
    assert grapheme_clusters("🇦🇧🇨") == ("🇦🇧", "🇨")  # regional indicators pair from the left
    assert grapheme_clusters("\n\u0301") == ("\n", "\u0301")  # nothing attaches to a control
    assert grapheme_clusters("") == ()


# --- Live-verified cases from the calculator's manual test plan (issue #66: 16/16 matched) ------


@pytest.mark.parametrize(
    ("body", "smart", "encoding", "segments"),
    [
        ("a" * 80 + "\r\n" + "a" * 79, False, "GSM-7", 2),
        ("a" * 80 + "\n" + "a" * 79, False, "GSM-7", 1),
        ("a" * 200 + "\r\n" + "a" * 105, False, "GSM-7", 3),
        ("é" * 70, False, "GSM-7", 1),
        (E_ACUTE_DECOMPOSED * 70, False, "UCS-2", 3),
        (E_ACUTE_DECOMPOSED, False, "UCS-2", 1),
        ("“Hi”", False, "UCS-2", 1),
        ("“Hi”", True, "GSM-7", 1),
        ("a„\u200cbc", False, "UCS-2", 1),
        ("a„\u200cbc", True, "GSM-7", 1),
        ("😀|", False, "UCS-2", 1),
        ("a" * 160, False, "GSM-7", 1),
        ("a" * 161, False, "GSM-7", 2),
        ("中" * 70, False, "UCS-2", 1),
        ("中" * 71, False, "UCS-2", 2),
        ("|", False, "GSM-7", 1),
    ],
)
def test_live_twilio_billing(body: str, smart: bool, encoding: str, segments: int) -> None:
    result = analyze(body, smart_encoding=smart)
    assert (result.encoding, result.segments) == (encoding, segments)


# --- Smart Encoding ------------------------------------------------------------------------------


def test_smart_encoding_turns_curly_quotes_and_dashes_into_gsm_and_lowers_cost() -> None:
    body = "“Thanks for waiting” — your order’s on its way. Reply STOP to opt out. " * 2
    before = analyze(body)
    assert (before.encoding, before.segments) == ("UCS-2", 3)
    assert before.non_gsm == ("“", "”", "—", "’")

    suggestion = suggest_smart_encoding(body)
    assert suggestion is not None
    assert suggestion.text == body.translate(
        str.maketrans({"“": '"', "”": '"', "—": "-", "’": "'"})
    )
    assert suggestion.replacements == (("“", '"'), ("”", '"'), ("—", "-"), ("’", "'"))
    assert (suggestion.analysis.encoding, suggestion.analysis.segments) == ("GSM-7", 1)
    assert suggestion.original == before
    assert suggestion.segments_saved == 2
    assert analyze(body, smart_encoding=True) == suggestion.analysis


def test_no_suggestion_when_nothing_would_change() -> None:
    assert suggest_smart_encoding("Plain GSM text {with} extension chars €") is None
    assert suggest_smart_encoding("Emoji only 😀") is None


def test_suggestion_even_when_emoji_keep_it_ucs2() -> None:
    suggestion = suggest_smart_encoding("Great… 😀")
    assert suggestion is not None
    assert suggestion.text == "Great... 😀"
    assert suggestion.analysis.encoding == "UCS-2"
    assert suggestion.segments_saved == 0


def test_smart_encoding_table_mirrors_the_calculator() -> None:
    assert len(SMART_ENCODING_MAP) == 271  # SmartEncodingMap.ts, v1.3.0
    assert all(is_gsm7(replacement) for replacement in SMART_ENCODING_MAP.values())
    assert not any(is_gsm7(char) for char in SMART_ENCODING_MAP)
    # Quirks copied on purpose, as the calculator (and its tests) have them.
    assert smart_encode("a\u00a0b\tc\u200bd\u200ce") == "a  b       cde"
    assert smart_encode("‹½›…—–•") == "<1/2>...---"


# --- Properties ----------------------------------------------------------------------------------

gsm_text = st.text(alphabet=GSM_BASIC + GSM_EXTENSION, max_size=480)
# Self-contained clusters: none of them merges with a neighbour, so the atom boundaries are
# exactly the grapheme-cluster boundaries of any concatenation.
ucs2_atom = st.sampled_from(
    [
        *(GSM_BASIC.replace("\r", "") + GSM_EXTENSION),
        "ж",
        "中",
        "á",
        "😀",
        "🎉",
        ITALY,
        "🇫🇷",
        FAMILY,
        THUMBS_UP_MEDIUM,
        KEYCAP_ONE,
        E_ACUTE_DECOMPOSED,
        RAINBOW_FLAG,
        ENGLAND_FLAG,
        "❤\ufe0f",
        "\r\n",
        "e\u0301\u0302\u0303",
    ]
)
any_text = st.text(max_size=400)


@st.composite
def ucs2_atoms(draw: st.DrawFn) -> list[str]:
    """Clusters with at least one non-GSM one somewhere, so that the body is UCS-2."""
    atoms = draw(st.lists(ucs2_atom, max_size=220))
    at = draw(st.integers(0, len(atoms)))
    return [*atoms[:at], draw(st.sampled_from(["ж", "😀", ITALY, FAMILY])), *atoms[at:]]


def offsets(parts: list[str] | tuple[str, ...]) -> set[int]:
    return set(accumulate(map(len, parts), initial=0))


def check_invariants(text: str) -> None:
    result = analyze(text)
    assert "".join(result.segment_texts) == text
    assert result.segments == len(result.segment_texts) == len(result.segment_sizes)
    assert result.characters == sum(result.segment_sizes)
    assert all(result.segment_texts)
    measure = septets if result.encoding == "GSM-7" else utf16_units
    assert [measure(s) for s in result.segment_texts] == list(result.segment_sizes)
    assert all(size <= result.per_segment_limit for size in result.segment_sizes)
    assert is_gsm7(text) == (result.encoding == "GSM-7")
    assert all(not is_gsm7(cluster) for cluster in result.non_gsm)
    assert len(set(result.non_gsm)) == len(result.non_gsm)


@FAST
@given(gsm_text)
def test_gsm_text_properties(text: str) -> None:
    check_invariants(text)
    result = analyze(text)
    assert result.encoding == "GSM-7"
    assert result.non_gsm == ()
    assert smart_encode(text) == text
    # No boundary between an ESC septet and its character: in septet space, every boundary is
    # the start of a character.
    char_starts = set(accumulate((septets(c) for c in text), initial=0))
    assert set(accumulate(result.segment_sizes, initial=0)) <= char_starts
    # Same split as the calculator's own segment builder, atom by atom.
    if text:
        reference = twilio_segments([7 * septets(c) for c in text])
        assert [len(s) for s in result.segment_texts] == reference


@FAST
@given(ucs2_atoms())
def test_ucs2_text_properties(atoms: list[str]) -> None:
    text = "".join(atoms)
    check_invariants(text)
    result = analyze(text)
    assert result.encoding == "UCS-2"
    boundaries = offsets(result.segment_texts)
    assert boundaries <= offsets(atoms)  # never inside a cluster (nor, so, a surrogate pair)
    assert grapheme_clusters(text) == tuple(atoms)
    # Same split as the calculator's segment builder given the same clusters.
    reference = twilio_segments([16 * utf16_units(a) for a in atoms])
    per_segment = [len(grapheme_clusters(s)) for s in result.segment_texts]
    assert per_segment == reference


@FAST
@given(any_text)
def test_arbitrary_text_properties(text: str) -> None:
    check_invariants(text)
    result = analyze(text)
    clusters = grapheme_clusters(text)
    assert "".join(clusters) == text
    if result.encoding == "UCS-2" and max(map(utf16_units, clusters)) <= UCS2_MULTI_SEGMENT:
        assert offsets(result.segment_texts) <= offsets(clusters)
    assert analyze(text, smart_encoding=True) == analyze(smart_encode(text))


@FAST
@given(gsm_text, st.text(alphabet=GSM_BASIC + GSM_EXTENSION, min_size=1, max_size=5))
def test_segments_monotonic_when_appending_gsm(text: str, more: str) -> None:
    assert analyze(text + more).segments >= analyze(text).segments


@FAST
@given(ucs2_atoms(), st.lists(ucs2_atom | st.characters(), min_size=1, max_size=5))
def test_segments_monotonic_when_appending_ucs2(atoms: list[str], more: list[str]) -> None:
    text = "".join(atoms)
    assert analyze(text + "".join(more)).segments >= analyze(text).segments


# --- Speed and purity ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        ("Thanks for reaching out about order #4521 {ref: A-7}. " * 40)[:1600],
        ("Спасибо за обращение по заказу 4521, мы уже отправили его. " * 40)[:1600],
        ("Thanks for reaching out! We shipped it today 😀 " * 40)[:1590] + FAMILY,
    ],
    ids=["gsm7", "ucs2", "ucs2-emoji"],
)
def test_fast_enough_for_every_keystroke(body: str) -> None:
    per_call = min(timeit.repeat(lambda: analyze(body), number=20, repeat=5)) / 20
    assert per_call < 0.001  # measured ~20-80 us; the margin absorbs slow CI machines


def test_module_is_pure_standard_library() -> None:
    code = (
        "import sys, core.sms; "
        "heavy = {'textual', 'uvicorn', 'websockets'} & {m.split('.')[0] for m in sys.modules}; "
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
