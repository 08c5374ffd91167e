"""Count SMS segments the way Twilio bills them, fast enough to run on every keystroke.

Twilio charges per *segment*, and the rules that decide how many segments a body needs are easy to
get subtly wrong (one curly quote doubles the price; an escape pair or an emoji cannot straddle a
segment boundary).  Rather than reinventing them, this module mirrors Twilio's own open-source
calculator, github.com/TwilioDevEd/message-segment-calculator (MIT, (c) 2021 Twilio Inc; read at
its latest release, v1.3.0).  Its behaviour, in short:

* A body is GSM-7 when every character is in the GSM 03.38 basic table or its extension table,
  otherwise the *whole* body is UCS-2 (``UnicodeToGSM.ts``, ``_hasAnyUCSCharacters``).
* A segment carries 140 octets.  A body that fits in one segment uses all of them (160 septets /
  70 UTF-16 code units).  A longer body gets a 6-octet User Data Header in *every* segment, leaving
  153 septets / 67 code units each (``Segment.ts``: 1120 bits, six 8-bit header entries, and the
  first segment gives back what no longer fits once its header is added).
* The extension characters ``^{}\\[~]|€`` and form feed are an ESC septet plus a septet, so they
  cost two and the pair is never split (each is one ``EncodedChar`` of 14 bits).
* In UCS-2 the atoms are grapheme clusters (the calculator runs ``grapheme-splitter`` and builds
  one ``EncodedChar`` per cluster), so an emoji, flag or ZWJ sequence is never split; the one
  exception is that it splits the CR LF cluster back into CR and LF.

Packing atoms greedily into 153/67-unit segments (after checking whether everything fits in one
160/70-unit segment) gives exactly the calculator's result: its "fill 160, then pop back to 153"
dance keeps the longest prefix that fits, which is what greedy packing keeps.

Where we deliberately differ (each can only keep the segment count equal or make it higher, and
for text made only of single-code-point characters the counts are identical):

* Grapheme clusters come from a compact built-in splitter (Python has none), which is coarser than
  ``grapheme-splitter`` in places: it never breaks after ZWJ, attaches emoji modifiers to anything,
  treats Hangul jamo loosely and keeps CR LF together in UCS-2.  Newer emoji ZWJ sequences that
  ``grapheme-splitter`` 1.0.4 (Unicode 10 era) breaks, e.g. the polar bear, stay whole here.
* A single cluster longer than a whole segment (pathological "Zalgo" text) is split between code
  points, since it cannot be sent otherwise; the calculator would show an over-full segment.
* ``characters`` is the count Twilio bills against: septets in GSM-7 and UTF-16 code units in
  UCS-2.  The calculator's ``numberOfCharacters`` shows grapheme clusters for UCS-2 instead.
* An empty body is 0 segments.  The calculator says 1 (it always opens one segment), but Twilio
  rejects an SMS without a body (error 21602), so nothing is ever billed for it.

Not modelled: Twilio trims trailing line breaks before sending (per a note in the calculator's
manual test plan); the TUI shows the body as typed, so the count here includes them.
"""

import re
import unicodedata
from bisect import bisect_left
from dataclasses import dataclass, field
from itertools import chain, pairwise
from types import MappingProxyType
from typing import Final, Literal

__all__ = [
    "GSM7_MULTI_SEGMENT",
    "GSM7_SINGLE_SEGMENT",
    "SMART_ENCODING_MAP",
    "UCS2_MULTI_SEGMENT",
    "UCS2_SINGLE_SEGMENT",
    "Encoding",
    "SmartEncodingSuggestion",
    "SmsAnalysis",
    "analyze",
    "grapheme_clusters",
    "is_gsm7",
    "smart_encode",
    "suggest_smart_encoding",
]

Encoding = Literal["GSM-7", "UCS-2"]

GSM7_SINGLE_SEGMENT: Final = 160
GSM7_MULTI_SEGMENT: Final = 153
UCS2_SINGLE_SEGMENT: Final = 70
UCS2_MULTI_SEGMENT: Final = 67

# Keys of the calculator's UnicodeToGsm map: one septet each, or ESC + septet for the extension
# table.  Note what is *not* here, and so forces UCS-2: the backtick, lower-case c-cedilla, and
# accented letters beyond these few (á, í, ó, ú, â, ê...).
_GSM7_BASIC: Final = (
    "\n\r !\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz"
    "¡£¤¥§¿ÄÅÆÇÉÑÖØÜßàäåæèéìñòöøùüΓΔΘΛΞΠΣΦΨΩ"
)
_GSM7_EXTENSION: Final = "\f[\\]^{|}~€"
_GSM7_EXTENSION_SET: Final = frozenset(_GSM7_EXTENSION)
_GSM7_SET: Final = frozenset(_GSM7_BASIC + _GSM7_EXTENSION)

_NON_GSM_RE: Final = re.compile(f"[^{re.escape(_GSM7_BASIC + _GSM7_EXTENSION)}]")
_EXTENSION_RE: Final = re.compile(f"[{re.escape(_GSM7_EXTENSION)}]")
_ASTRAL_RE: Final = re.compile("[\U00010000-\U0010ffff]")

# Twilio's Smart Encoding table as the calculator ships it (SmartEncodingMap.ts, v1.3.0), as
# (replacement, characters) rows.  Copied verbatim, quirks included: no-break and most other
# Unicode spaces become *two* spaces, a tab becomes seven, and invisible characters are dropped.
_SMART_ENCODING_GROUPS: Final[tuple[tuple[str, str], ...]] = (
    ('"', "\u00ab\u00bb\u201c\u201d\u02ba\u02ee\u201f\u201e\u275d\u275e\u301d\u301e\uff02"),
    ("'", "\u2018\u2019\u02bb\u02c8\u02bc\u02bd\u02b9\u201b\uff07\u00b4\u02ca\u0060\u02cb"),
    ("'", "\u275b\u275c\u0313\u0314\ufe10\ufe11"),
    ("/", "\u00f7\u29f8\u0337\u0338\u2044\u2215\uff0f"),
    ("1/4", "\u00bc"),
    ("1/2", "\u00bd"),
    ("3/4", "\u00be"),
    ("\\", "\u29f9\u29f5\u20e5\ufe68\uff3c"),
    ("_", "\u0332\uff3f\u2017"),
    ("|", "\u20d2\u20d3\u2223\uff5c\u23b8\u23b9\u23d0\u239c\u239f"),
    ("-", "\u23bc\u23bd\u2015\ufe63\uff0d\u2010\u2043\u2014\u2013\u2022"),
    ("@", "\ufe6b\uff20"),
    ("$", "\ufe69\uff04"),
    ("!", "\u01c3\ufe15\ufe57\uff01"),
    ("#", "\ufe5f\uff03"),
    ("%", "\ufe6a\uff05"),
    ("&", "\ufe60\uff06"),
    (",", "\u201a\u0326\ufe50\ufe51\uff0c\uff64\u3001"),
    ("(", "\u2768\u276a\ufe59\uff08\u27ee\u2985"),
    (")", "\u2769\u276b\ufe5a\uff09\u27ef\u2986"),
    ("*", "\u204e\u2217\u229b\u2722\u2723\u2724\u2725\u2731\u2732\u2733\u273a\u273b\u273c"),
    ("*", "\u273d\u2743\u2749\u274a\u274b\u29c6\ufe61\uff0a"),
    ("+", "\u02d6\ufe62\uff0b"),
    (".", "\u3002\ufe52\uff0e\uff61"),
    ("0", "\uff10"),
    ("1", "\uff11"),
    ("2", "\uff12"),
    ("3", "\uff13"),
    ("4", "\uff14"),
    ("5", "\uff15"),
    ("6", "\uff16"),
    ("7", "\uff17"),
    ("8", "\uff18"),
    ("9", "\uff19"),
    (":", "\u02d0\u02f8\u2982\ua789\ufe13\uff1a"),
    (";", "\u204f\ufe14\ufe54\uff1b"),
    ("<", "\ufe64\uff1c\u2039"),
    ("=", "\u0347\ua78a\ufe66\uff1d"),
    (">", "\ufe65\uff1e\u203a"),
    ("?", "\ufe16\ufe56\uff1f"),
    ("A", "\uff21\u1d00"),
    ("B", "\uff22\u0299"),
    ("C", "\uff23\u1d04"),
    ("D", "\uff24\u1d05"),
    ("E", "\uff25\u1d07"),
    ("F", "\uff26\ua730"),
    ("G", "\uff27\u0262"),
    ("H", "\uff28\u029c"),
    ("I", "\uff29\u026a"),
    ("J", "\uff2a\u1d0a"),
    ("K", "\uff2b\u1d0b"),
    ("L", "\uff2c\u029f"),
    ("M", "\uff2d\u1d0d"),
    ("N", "\uff2e\u0274"),
    ("O", "\uff2f\u1d0f"),
    ("P", "\uff30\u1d18"),
    ("Q", "\uff31"),
    ("R", "\uff32\u0280"),
    ("S", "\uff33\ua731"),
    ("T", "\uff34\u1d1b"),
    ("U", "\uff35\u1d1c"),
    ("V", "\uff36\u1d20"),
    ("W", "\uff37\u1d21"),
    ("X", "\uff38"),
    ("Y", "\uff39\u028f"),
    ("Z", "\uff3a\u1d22"),
    ("^", "\u02c6\u0302\uff3e\u1dcd"),
    ("{", "\u2774\ufe5b\uff5b"),
    ("}", "\u2775\ufe5c\uff5d"),
    ("[", "\uff3b"),
    ("]", "\uff3d"),
    ("~", "\u02dc\u02f7\u0303\u0330\u0334\u223c\uff5e"),
    ("  ", "\u00a0\u2000\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u202f\u205f"),
    ("  ", "\u3000\u008d\u009f\u0080\u0090\u009b"),
    ("", "\u0010\u0000\u0003\u0004\u0017\u0019\u0011\u0012\u0013\u0014\u2060\u200b\u200c"),
    ("", "\ufeff"),
    ("       ", "\u0009"),
    ("!!", "\u203c"),
    (" ", "\u2028\u2029\u2001"),
    ("...", "\u2026"),
)

SMART_ENCODING_MAP: Final = MappingProxyType(
    {char: replacement for replacement, chars in _SMART_ENCODING_GROUPS for char in chars}
)
_SMART_TRANSLATION: Final = str.maketrans(dict(SMART_ENCODING_MAP))
_SMART_RE: Final = re.compile(f"[{re.escape(''.join(SMART_ENCODING_MAP))}]")


# --- Grapheme clusters ---------------------------------------------------------------------------
# Just enough of UAX #29 to never cut through what a reader sees as one character.  Classes:
_OTHER, _CR, _LF, _CONTROL, _EXTEND, _ZWJ, _RI, _PREPEND = range(8)
# Pseudo-classes for the previous character only: the second of a flag's two regional indicators
# (so a third one starts a new flag) and the start of the text.
_RI_PAIRED, _START = 8, 9

# Prepend (GB9b): Unicode 14's list plus what grapheme-splitter's older table has.
_PREPEND_CODEPOINTS: Final = frozenset(
    chain(
        range(0x0600, 0x0606),
        range(0x11A84, 0x11A8A),
        (0x06DD, 0x070F, 0x0890, 0x0891, 0x08E2, 0x0D4E, 0x110BD, 0x110CD, 0x111C2, 0x111C3),
        (0x1193F, 0x11941, 0x11A3A, 0x11D46, 0x11F02),
    )
)


def _classify(char: str) -> int:
    """Grapheme class of one code point, erring towards joining.

    Joining too much can only keep a cluster whole that Unicode would split, which never lowers
    the segment count below Twilio's; splitting too much could.  Hence Hangul leading jamo act as
    Prepend and vowel/trailing jamo as Extend, all spacing marks extend, and emoji modifiers extend
    whatever precedes them.
    """
    cp = ord(char)
    if char == "\r":
        return _CR
    if char == "\n":
        return _LF
    if cp == 0x200D:
        return _ZWJ
    if 0x1F1E6 <= cp <= 0x1F1FF:
        return _RI
    if cp in _PREPEND_CODEPOINTS or 0x1100 <= cp <= 0x115F or 0xA960 <= cp <= 0xA97C:
        return _PREPEND
    if (
        0x1160 <= cp <= 0x11FF  # Hangul vowel and trailing jamo
        or 0xD7B0 <= cp <= 0xD7FB
        or 0x1F3FB <= cp <= 0x1F3FF  # emoji skin-tone modifiers
        or 0xE0020 <= cp <= 0xE007F  # tag characters (subdivision flags)
        # Extend/SpacingMark outside M* (1CF2/1CF3 were Mc in the Unicode 10 grapheme-splitter uses)
        or cp in (0x200C, 0x0E33, 0x0EB3, 0x1CF2, 0x1CF3, 0xFF9E, 0xFF9F)
    ):
        return _EXTEND
    category = unicodedata.category(char)
    if category[0] == "M":  # Mn, Mc, Me: combining marks, variation selectors, keycap U+20E3
        return _EXTEND
    # Egyptian hieroglyph format controls postdate grapheme-splitter, which lets marks attach.
    if category in ("Cc", "Cf", "Zl", "Zp", "Cs") and not 0x13430 <= cp <= 0x1343F:
        return _CONTROL
    return _OTHER


def _join_rule(prev: int, cur: int) -> int:
    """0: boundary between prev and cur; 1: same cluster; 2: same cluster, a flag is complete."""
    if prev == _CR:
        return int(cur == _LF)  # GB3
    if prev in (_LF, _CONTROL, _START) or cur in (_CR, _LF, _CONTROL):
        return 0  # GB4, GB5
    if cur in (_EXTEND, _ZWJ) or prev in (_PREPEND, _ZWJ):
        return 1  # GB9, GB9a, GB9b; GB11 loosened to "never break after ZWJ"
    if prev == _RI and cur == _RI:
        return 2  # GB12, GB13
    return 0


_JOIN: Final = tuple(tuple(_join_rule(prev, cur) for cur in range(8)) for prev in range(10))


def _bmp_classes() -> dict[str, int]:
    """Every BMP code point that is not _OTHER, in ~10 ms of import time.

    Only marks, controls and separators (and the few letters _classify special-cases) can be
    anything else, so the full classifier runs on those alone; private use is skipped outright.
    Astral code points are classified on first sight instead (see _learn_astral): scanning
    them all up front would cost ~0.1 s of start-up for characters most bodies never contain.
    """
    category = unicodedata.category
    letters = (0x0D4E, 0x0E33, 0x0EB3, 0x1CF2, 0x1CF3, 0xFF9E, 0xFF9F)
    jamo = chain(range(0x1100, 0x1200), range(0xA960, 0xA97D), range(0xD7B0, 0xD7FC))
    candidates = [
        c for c in map(chr, chain(range(0xE000), range(0xF900, 0x10000))) if category(c)[0] in "MCZ"
    ]
    classes = {c: _classify(c) for c in chain(candidates, map(chr, chain(letters, jamo)))}
    return {c: k for c, k in classes.items() if k != _OTHER}


_CLASS: Final = _bmp_classes()
_ASTRAL_OTHER: Final[set[str]] = set()
_MAX_ASTRAL_OTHER: Final = 10_000
# The classes that can glue a character to a neighbour.  Text without any of them is one cluster
# per code point, and joins can only occur next to one, which bounds the scan below.
_JOINERS: Final = frozenset({_CR, _EXTEND, _ZWJ, _RI, _PREPEND})


def _learn_astral(chars: list[str]) -> None:
    """Put this text's astral characters into _CLASS, which _joins relies on.

    Only the few thousand astral code points that are not _OTHER are ever stored there, so it
    stays bounded whatever it is fed; plain emoji and the like are remembered in a capped set just
    to skip re-classifying them on the next keystroke.
    """
    for char in chars:
        if char in _CLASS or char in _ASTRAL_OTHER:
            continue
        cls = _classify(char)
        if cls != _OTHER:
            _CLASS[char] = cls
        elif len(_ASTRAL_OTHER) < _MAX_ASTRAL_OTHER:
            _ASTRAL_OTHER.add(char)


def _joins(text: str, distinct: list[str]) -> list[int]:
    """Indices i where text[i-1] and text[i] are in the same cluster, ascending.

    ``distinct`` is every distinct character of ``text``.  The per-code-point loop is the only one
    on the hot path, so it records the (rare) joins rather than the (frequent) boundaries, and it
    only walks from just before the first character that can join to just after the last: a long
    reply with one flag at the end costs next to nothing.
    """
    _learn_astral([c for c in distinct if c > "\uffff"])
    get = _CLASS.get
    joiners = [c for c in distinct if get(c, _OTHER) in _JOINERS]
    if not joiners:
        return []
    # No join can involve a character before lo - 1 (none of them glues), so starting afresh at
    # lo loses nothing; the last joiner can at most glue the character after it.
    lo = max(0, min(map(text.find, joiners)) - 1)
    hi = max(map(text.rfind, joiners)) + 2
    table = _JOIN
    row = table[_START]
    joins: list[int] = []
    for i, char in enumerate(text[lo:hi], lo):
        cls = get(char, _OTHER)
        rule = row[cls]
        if rule:
            joins.append(i)
            if rule == 2:
                cls = _RI_PAIRED
        row = table[cls]
    return joins


def grapheme_clusters(text: str) -> tuple[str, ...]:
    """Split text into user-perceived characters with the same rules the UCS-2 packer uses.

    Exposed so the UI can move the cursor or highlight by what the user sees, and so tests can
    check segment boundaries against the very clusters the packer promised not to split.
    """
    joins = set(_joins(text, list(dict.fromkeys(text))))
    if not joins:
        return tuple(text)
    starts = [i for i in range(len(text)) if i not in joins]
    return tuple(text[a:b] for a, b in zip(starts, [*starts[1:], len(text)], strict=True))


# --- Analysis ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SmsAnalysis:
    """What a body costs and where Twilio will cut it; immutable so the UI can cache/compare it.

    ``characters``, ``segment_sizes``, ``per_segment_limit`` and ``remaining_in_segment`` are all
    in billing units: septets for GSM-7 (extension characters count 2), UTF-16 code units for
    UCS-2 (an emoji usually counts 2).
    """

    text: str = field(repr=False)  # the analysed body (after Smart Encoding, if requested)
    encoding: Encoding
    segments: int  # 0 for an empty body, which Twilio refuses rather than bills
    characters: int
    non_gsm: tuple[str, ...]  # clusters forcing UCS-2, distinct, in order of first appearance
    segment_texts: tuple[str, ...] = field(repr=False)
    segment_sizes: tuple[int, ...]
    per_segment_limit: int  # 160/70 while the body fits one segment, 153/67 once it does not
    remaining_in_segment: int  # units left before the next character opens another segment

    @property
    def is_gsm7(self) -> bool:
        return self.encoding == "GSM-7"


@dataclass(frozen=True, slots=True)
class SmartEncodingSuggestion:
    """What turning on Twilio Smart Encoding would send, and whether it is worth it."""

    text: str = field(repr=False)
    replacements: tuple[tuple[str, str], ...]  # (original, replacement), distinct, in text order
    analysis: SmsAnalysis  # the cost of ``text``
    original: SmsAnalysis  # the cost without Smart Encoding, for the comparison

    @property
    def segments_saved(self) -> int:
        return self.original.segments - self.analysis.segments


def is_gsm7(text: str) -> bool:
    """True when the whole text fits the GSM-7 alphabet, i.e. it will not be sent as UCS-2."""
    return _NON_GSM_RE.search(text) is None


def smart_encode(text: str) -> str:
    """Apply Twilio's Smart Encoding replacements, code point by code point, as Twilio does.

    Mirrors the calculator: the replacement is unconditional, even where characters without a
    GSM-7 equivalent (emoji, CJK) remain and the body goes out as UCS-2 anyway.  (Twilio's 2017
    announcement of the feature said it only applies when the whole body then fits GSM-7; the
    calculator does not model that, and neither do we.)  The regex check comes first because
    ``str.translate`` costs ~80 us on 1,600 characters even when nothing matches.
    """
    if _SMART_RE.search(text) is None:
        return text
    return text.translate(_SMART_TRANSLATION)


def suggest_smart_encoding(text: str) -> SmartEncodingSuggestion | None:
    """Offer Smart Encoding to the agent, or None when it would not change a single character.

    A suggestion is returned even when it saves nothing (an emoji keeps the body UCS-2, or "..."
    is longer than the ellipsis it replaces); ``segments_saved`` is what the UI should look at.
    """
    found = dict.fromkeys(_SMART_RE.findall(text))
    if not found:
        return None
    encoded = smart_encode(text)
    return SmartEncodingSuggestion(
        text=encoded,
        replacements=tuple((char, SMART_ENCODING_MAP[char]) for char in found),
        analysis=analyze(encoded),
        original=analyze(text),
    )


TRIAL_PREFIX = "Sent from your Twilio trial account - "
"""What Twilio puts before every text from a Trial account: it is billed and split too."""


def as_sent(body: str, *, trial: bool) -> str:
    """The text the customer's phone receives: a Trial account's carries Twilio's prefix, so
    counting segments on the bare body says 1 where Twilio bills 2."""
    return TRIAL_PREFIX + body if trial and body else body


def analyze(text: str, *, smart_encoding: bool = False) -> SmsAnalysis:
    """Encoding, segment count and the actual split of an SMS body, as Twilio would bill it.

    Called on every keystroke, so each path does its per-character work in C (regexes, slicing,
    ``str.translate``, ``dict.fromkeys``); only UCS-2 text with characters that can join a cluster
    walks the string in Python, and only between the first and last such character.  For 1,600
    characters that is 20-90 us typically, ~0.45 ms for a solid wall of ZWJ emoji.
    """
    if smart_encoding:
        text = smart_encode(text)
    if not text:
        limit = GSM7_SINGLE_SEGMENT
        return SmsAnalysis(text, "GSM-7", 0, 0, (), (), (), limit, limit)
    if _NON_GSM_RE.search(text) is None:
        return _analyze_gsm7(text)
    return _analyze_ucs2(text)


def _result(
    text: str,
    encoding: Encoding,
    non_gsm: tuple[str, ...],
    bounds: list[int],
    sizes: list[int],
) -> SmsAnalysis:
    if encoding == "GSM-7":
        limit = GSM7_SINGLE_SEGMENT if len(sizes) == 1 else GSM7_MULTI_SEGMENT
    else:
        limit = UCS2_SINGLE_SEGMENT if len(sizes) == 1 else UCS2_MULTI_SEGMENT
    return SmsAnalysis(
        text=text,
        encoding=encoding,
        segments=len(sizes),
        characters=sum(sizes),
        non_gsm=non_gsm,
        segment_texts=tuple(text[a:b] for a, b in pairwise(bounds)),
        segment_sizes=tuple(sizes),
        per_segment_limit=limit,
        remaining_in_segment=limit - sizes[-1],
    )


def _analyze_gsm7(text: str) -> SmsAnalysis:
    """Every code point is an atom of 1 septet, or 2 for the extension table.

    Unlike UCS-2, no grapheme rule applies: the only multi-code-point cluster GSM-7 can spell is
    CR LF, and the calculator deliberately counts and packs CR and LF separately (Twilio bills
    80 'a' + CR LF + 79 'a' as 2 segments), so a boundary may fall between them.
    """
    septets = len(text) + len(_EXTENSION_RE.findall(text))
    if septets <= GSM7_SINGLE_SEGMENT:
        return _result(text, "GSM-7", (), [0, len(text)], [septets])
    bounds, sizes = [0], []
    start, n = 0, len(text)
    while start < n:
        end = min(start + GSM7_MULTI_SEGMENT, n)
        size = end - start + len(_EXTENSION_RE.findall(text, start, end))
        while size > GSM7_MULTI_SEGMENT:  # give back characters until the segment fits again
            end -= 1
            size -= 2 if text[end] in _GSM7_EXTENSION_SET else 1
        bounds.append(end)
        sizes.append(size)
        start = end
    return _result(text, "GSM-7", (), bounds, sizes)


def _analyze_ucs2(text: str) -> SmsAnalysis:
    distinct = list(dict.fromkeys(text))  # one C-speed pass answers most questions below
    joins = _joins(text, distinct)
    non_gsm = _non_gsm_clusters(text, joins, [c for c in distinct if c not in _GSM7_SET])
    n = len(text)
    astral = [m.start() for m in _ASTRAL_RE.finditer(text)]  # each costs 2 code units
    units = n + len(astral)
    if units <= UCS2_SINGLE_SEGMENT:
        return _result(text, "UCS-2", non_gsm, [0, n], [units])

    limit = UCS2_MULTI_SEGMENT
    joined = set(joins)
    bounds, sizes = [0], []
    start = unit_start = 0
    while start < n:
        target = unit_start + limit
        if astral:  # last code point index whose UTF-16 offset still fits, by bisection
            lo, hi = start + 1, min(n, start + limit)
            while lo < hi:
                mid = (lo + hi + 1) // 2
                if mid + bisect_left(astral, mid) <= target:
                    lo = mid
                else:
                    hi = mid - 1
            end = lo
        else:
            end = min(n, target)
        cut = end
        while cut > start and cut in joined:  # back off to the start of the cluster
            cut -= 1
        if cut > start:
            end = cut
        # else: one cluster is longer than a whole segment; split it between code points.
        unit_end = end + bisect_left(astral, end)
        bounds.append(end)
        sizes.append(unit_end - unit_start)
        start, unit_start = end, unit_end
    return _result(text, "UCS-2", non_gsm, bounds, sizes)


def _non_gsm_clusters(text: str, joins: list[int], singles: list[str]) -> tuple[str, ...]:
    """Distinct clusters containing a non-GSM character, in order of first appearance.

    Whole clusters rather than code points, like the calculator's getNonGsmCharacters, because
    "remove the family emoji" is actionable for an agent and "remove U+200D" is not.  Written
    to do its per-cluster work in C: emoji-dense text has hundreds of clusters.
    """
    if not joins:
        return tuple(singles)
    # Each run of consecutive join indices j..k is one cluster text[j-1:k+1].
    starts = [j - 1 for j, prev in zip(joins, [-2, *joins], strict=False) if j != prev + 1]
    ends = [k + 1 for k, nxt in zip(joins, [*joins[1:], -2], strict=True) if nxt != k + 1]
    clusters = [text[a:b] for a, b in zip(starts, ends, strict=True)]
    # Reversed, so that each distinct cluster keeps its *first* start.
    first = {
        c: a
        for c, a in dict(zip(reversed(clusters), reversed(starts), strict=True)).items()
        if _NON_GSM_RE.search(c)
    }
    inside = "".join(clusters)
    for char in singles:
        if text.count(char) == inside.count(char):
            continue  # never a cluster of its own (a ZWJ, a skin tone, a flag's half...)
        pos = text.find(char)
        while pos >= 0:  # first occurrence outside every multi-code-point cluster
            k = bisect_left(starts, pos + 1) - 1
            if k < 0 or pos >= ends[k]:
                first[char] = pos
                break
            pos = text.find(char, ends[k])
    return tuple(sorted(first, key=first.__getitem__))
