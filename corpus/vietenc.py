"""Telling whether text reads as Vietnamese, and repairing the ways it commonly does not.

Old commune documents were typed with 8-bit "font encodings": TCVN3 (the ABC keyboard and
the ``.VnTime`` fonts) stores each accented letter as one Latin-1 byte, so the text shows up
as ``C¶i c¸ch hµnh chÝnh``; VNI stores a base letter followed by a mark character
(``Caûi caùch haønh chính``). A third common failure is UTF-8 read once as Windows-1252 and
saved again (``Cáº£i cÃ¡ch``).

None of these can be told apart by their bytes alone, so every decision here is made the same
way: convert, then count how many words became valid Vietnamese syllables (``score``). A
conversion is applied only when it clearly wins; when it only half wins the caller is told
(``LegacyUnsure``) instead of being handed a guess.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache

# ---------------------------------------------------------------------------------------------
# Vietnamese syllables
# ---------------------------------------------------------------------------------------------

_TONE_MARKS = {"\u0300", "\u0301", "\u0303", "\u0309", "\u0323"}
_CHECKED_TONES = {"\u0301", "\u0323"}  # the only tones a syllable ending in p/t/c/ch can carry

_ONSETS = "ngh ng nh ch gh gi kh ph qu th tr b c d đ g h k l m n p r s t v x".split()

# Every rime (vowel nucleus with its glides and final consonant) of standard Vietnamese,
# plus the few loan rimes that appear in administrative text (xoong, boong).
_RIMES = """
a ai ao au ay ac ach am an ang anh ap at
ăc ăm ăn ăng ăp ăt
âc âm ân âng âp ât âu ây
e eo ec em en eng ep et
ê êu êch êm ên ênh êp êt
i ia iu ich im in inh ip it
iêc iêm iên iêng iêp iêt iêu
yêm yên yêt yêu
o oi oc om on ong op ot ooc oong
ô ôi ôc ôm ôn ông ôp ôt
ơ ơi ơm ơn ơp ơt
u ua ui uy uc um un ung up ut
uôc uôi uôm uôn uông uôt
ư ưa ưi ưu ưc ưm ưn ưng ưt
ươc ươi ươm ươn ương ươp ươt ươu
y
oa oai oay oac oach oam oan oang oanh oap oat oao
oăc oăm oăn oăng oăt
oe oeo oen oet
uân uâng uât uây
uê uêch uên uênh
uơ
uya uyu uych uyn uynh uyp uyt
uyên uyêt
""".split()


def _alternation(items: list[str]) -> str:
    return "|".join(sorted(items, key=len, reverse=True))


_SYLLABLE_RE = re.compile(f"({_alternation(_ONSETS)})?({_alternation(_RIMES)})")
# Lip consonants take no rounded glide: "boá" is not a syllable, so VNI "Boá" must be "Bố".
_LABIALS = {"b", "m", "p", "ph", "v"}
_GLIDE_RIMES = ("oa", "oă", "oe", "uâ", "uê", "uơ")
_VOWELS = set("aăâeêioôơuưy")


@lru_cache(maxsize=100_000)
def is_syllable(word: str) -> bool:
    """True if ``word`` (any case, NFC or not) is one well-formed Vietnamese syllable."""
    word = unicodedata.normalize("NFC", word)
    if word not in (word.lower(), word.upper(), word.capitalize()):
        return False  # "chÝnh", "HOạCH": a conversion went wrong somewhere
    decomposed = unicodedata.normalize("NFD", word.lower())
    tones = [ch for ch in decomposed if ch in _TONE_MARKS]
    if len(tones) > 1:
        return False
    bare = unicodedata.normalize("NFC", "".join(ch for ch in decomposed if ch not in _TONE_MARKS))
    match = _SYLLABLE_RE.fullmatch(bare)
    if match is None:
        return False
    onset, rime = match.groups()
    if onset in _LABIALS and rime.startswith(_GLIDE_RIMES):
        return False
    if rime.endswith(("p", "t", "c", "ch")):
        return bool(tones) and tones[0] in _CHECKED_TONES
    return True


# ---------------------------------------------------------------------------------------------
# Scoring
# ---------------------------------------------------------------------------------------------

# Tokens are split on white space and on punctuation that no legacy encoding uses for a letter
# (ASCII punctuation, the General Punctuation block, arrows and box drawing, private-use bullets
# from Word's Symbol font). Latin-1 symbols such as ¶ ¸ µ stay inside tokens: in TCVN3 they are
# letters, and a token holding one is exactly the evidence that something needs converting.
_SEPARATORS = r"\s!-/:-@\[-`{-~\u2000-\u206f\u2190-\u21ff\u2500-\u27bf\ue000-\uf8ff"
# Only tokens with a non-ASCII character count. The look-behind makes each token be tried
# once from its start, so this stays linear even on a long run without separators.
_ACCENTED_TOKEN_RE = re.compile(
    f"(?<![^{_SEPARATORS}])[^{_SEPARATORS}]*[^{_SEPARATORS}\x00-\x7f][^{_SEPARATORS}]*"
)


@dataclass(frozen=True)
class Score:
    """How Vietnamese a text reads: accented tokens that are (not) valid syllables."""

    good: int = 0
    bad: int = 0

    @property
    def net(self) -> int:
        return self.good - self.bad

    @property
    def ratio(self) -> float:
        total = self.good + self.bad
        return self.good / total if total else 1.0

    def __add__(self, other: Score) -> Score:
        return Score(self.good + other.good, self.bad + other.bad)


@lru_cache(maxsize=100_000)
def _token_verdict(token: str) -> int:
    """+1 valid accented syllable, -1 invalid, 0 does not count (ASCII, abbreviation)."""
    if token.isascii():
        return 0
    folded = unicodedata.normalize("NFD", token.lower())
    if not any(ch in _VOWELS for ch in folded):
        # Upper-case abbreviations such as HĐND or ĐT carry no vowel; they say nothing.
        if token.isupper():
            return 0
    return 1 if is_syllable(token) else -1


def score(text: str) -> Score:
    good = bad = 0
    for token, count in Counter(_ACCENTED_TOKEN_RE.findall(text)).items():
        verdict = _token_verdict(token)
        if verdict > 0:
            good += count
        elif verdict < 0:
            bad += count
    return Score(good, bad)


# ---------------------------------------------------------------------------------------------
# TCVN3 (TCVN 5712:1993)
# ---------------------------------------------------------------------------------------------

# Byte 0xA0 + i -> character. 0xB0-0xB4 are the five stand-alone tone marks. The capitals in
# the gaps (Ằ at 0xAF, Ẳ at 0xBA …) complete the 134-letter VN1 set; ABC fonts leave them unused.
_TCVN3_A0_FF = (
    "\u00a0ĂÂÊÔƠƯĐăâêôơưđẰ"  # 0xA0
    "\u0300\u0309\u0303\u0301\u0323àảãáạẲằẳẵắẴ"  # 0xB0
    "ẮẦẨẪẤỀặầẩẫấậèỂẻẽ"  # 0xC0
    "éẹềểễếệìỉỄẾỒĩíịò"  # 0xD0
    "Ổỏõóọồổỗốộờởỡớợù"  # 0xE0
    "ỖủũúụừửữứựỳỷỹýỵỐ"  # 0xF0
)
_TCVN3_80_9F = "ÀẢÃÁẠẶẬÈẺẼÉẸỆÌỈĨ" "ÍỊÒỎÕÓỌỘỜỞỠỚỢÙỦŨ"
# The capitals VN1 puts on C0 control codes.
_TCVN3_CONTROLS = {
    0x01: "Ú", 0x02: "Ụ", 0x04: "Ừ", 0x05: "Ử", 0x06: "Ữ", 0x11: "Ứ",
    0x12: "Ự", 0x13: "Ỳ", 0x14: "Ỷ", 0x15: "Ỹ", 0x16: "Ý", 0x17: "Ỵ",
}  # fmt: skip

assert len(_TCVN3_A0_FF) == 96 and len(_TCVN3_80_9F) == 32


def tcvn3_byte_table() -> dict[int, str]:
    """Byte -> Unicode for every non-ASCII TCVN3 byte (and the VN1 control-code capitals)."""
    table = {0xA0 + i: ch for i, ch in enumerate(_TCVN3_A0_FF)}
    table.update({0x80 + i: ch for i, ch in enumerate(_TCVN3_80_9F)})
    table.update(_TCVN3_CONTROLS)
    return table


def _cp1252_char(byte: int) -> str | None:
    try:
        return bytes([byte]).decode("cp1252")
    except UnicodeDecodeError:
        return None


# 0x80-0x9F as Windows-1252 punctuation (€ ‚ „ … † ‡ ‰ ‹ ‘ ’ “ ” • – — ™ ›). ABC fonts never
# put letters there, and writers used these as real quotes and dashes, so they stay punctuation.
_CP1252_PUNCTUATION = {0x80, 0x82, 0x84, 0x85, 0x86, 0x87, 0x89, 0x8B, 0x91, 0x92, 0x93, 0x94,
                       0x95, 0x96, 0x97, 0x99, 0x9B}  # fmt: skip


def _tcvn3_char_table() -> dict[int, str]:
    """Map the characters a TCVN3 byte turns into once text is read as Windows-1252 (what
    Word and a Latin-1 text editor show) to the letters TCVN3 meant."""
    table: dict[int, str] = {}
    for byte, letter in tcvn3_byte_table().items():
        # As a code point the byte itself: Latin-1 letters, and C0/C1 controls, which are
        # never real text.
        table[byte] = letter
        shown = _cp1252_char(byte)
        if 0x80 <= byte < 0xA0 and shown is not None and byte not in _CP1252_PUNCTUATION:
            table[ord(shown)] = letter  # Š Œ Ž š œ ž Ÿ ƒ ˆ ˜
    return table


_TCVN3 = _tcvn3_char_table()
_TCVN3_KEYS = frozenset(chr(k) for k in _TCVN3)


def from_tcvn3(text: str) -> str:
    return text.translate(_TCVN3)


_ASCII_LOWER_RE = re.compile("[a-z]")
_ASCII_UPPER_RE = re.compile("[A-Z]")
# A word with two or more ASCII capitals and no ASCII lower-case letter.
_CAPS_WORD_RE = re.compile(r"(?<!\S)(?=\S*[A-Z]\S*[A-Z])(?!\S*[a-z])\S+")


def _restore_capitals(line: str, converted: str) -> str:
    """Put back the capitals that ``.VnTimeH`` (the all-capitals ABC font) drew.

    That font shows the *lower-case* TCVN3 codes as capitals, so "KẾ HOẠCH" is stored as
    ``KÕ HO¹CH``. When the ASCII letters around a converted letter are all capitals, the
    writer meant capitals: the whole line when it has no ASCII lower case at all (and enough
    letters to tell), otherwise word by word.
    """
    if not _ASCII_LOWER_RE.search(line) and len(_ASCII_UPPER_RE.findall(line)) >= 3:
        words = [w for w in line.split() if any(ch in _TCVN3_KEYS for ch in w)]
        if len(words) >= 2:
            return converted.upper()
    # The conversion maps one character to one and leaves ASCII alone, so the words and
    # their ASCII letters are the same in ``converted``.
    return _CAPS_WORD_RE.sub(lambda m: m.group(0).upper(), converted)


def _tcvn3_line(line: str) -> str:
    converted = from_tcvn3(line)
    return _restore_capitals(line, converted) if converted != line else converted


# ---------------------------------------------------------------------------------------------
# VNI (VNI-Windows)
# ---------------------------------------------------------------------------------------------

_GRAVE, _ACUTE, _HOOK, _TILDE, _DOT = "\u0300", "\u0301", "\u0309", "\u0303", "\u0323"
_CIRCUMFLEX, _BREVE = "\u0302", "\u0306"

# Mark characters that follow a base vowel, lower case; VNI upper-cases them for capitals.
_VNI_TONE_MARKS = {"ø": _GRAVE, "ù": _ACUTE, "û": _HOOK, "õ": _TILDE, "ï": _DOT}
_VNI_HAT_MARKS = {  # circumflex, alone or with a tone (after a, e, o)
    "â": "", "á": _ACUTE, "à": _GRAVE, "å": _HOOK, "ã": _TILDE, "ä": _DOT,
}  # fmt: skip
_VNI_BREVE_MARKS = {  # breve, alone or with a tone (after a only)
    "ê": "", "é": _ACUTE, "è": _GRAVE, "ú": _HOOK, "ü": _TILDE, "ë": _DOT,
}  # fmt: skip
# Letters VNI stores as one character.
_VNI_SINGLES = {
    "ì": "ì", "í": "í", "æ": "ỉ", "ó": "ĩ", "ò": "ị", "î": "ỵ", "ñ": "đ", "ô": "ơ", "ö": "ư",
}  # fmt: skip


def _compose(*parts: str) -> str:
    return unicodedata.normalize("NFC", "".join(parts))


def vni_table() -> dict[str, str]:
    """VNI sequence (one or two characters) -> Unicode letter, both cases."""
    lower: dict[str, str] = dict(_VNI_SINGLES)
    tone_bases = {"a": "a", "e": "e", "o": "o", "u": "u", "y": "y", "ô": "ơ", "ö": "ư"}
    for base, letter in tone_bases.items():
        for mark, tone in _VNI_TONE_MARKS.items():
            lower[base + mark] = _compose(letter, tone)
    for base in "aeo":
        for mark, tone in _VNI_HAT_MARKS.items():
            lower[base + mark] = _compose(base, _CIRCUMFLEX, tone)
    for mark, tone in _VNI_BREVE_MARKS.items():
        lower["a" + mark] = _compose("a", _BREVE, tone)
    table = dict(lower)
    for seq, letter in lower.items():
        table[seq.upper()] = letter.upper()
        if len(seq) == 2:
            # A capital base with a lower-case mark ("Ñaûng" is fine, but "Uû" happens too).
            table[seq[0].upper() + seq[1]] = letter.upper()
    return table


_VNI = vni_table()
_VNI_RE = re.compile(_alternation([re.escape(k) for k in _VNI]))


def from_vni(text: str) -> str:
    return _VNI_RE.sub(lambda m: _VNI[m.group(0)], text)


# ---------------------------------------------------------------------------------------------
# UTF-8 read as Windows-1252 / Latin-1 ("Cáº£i cÃ¡ch")
# ---------------------------------------------------------------------------------------------

_CP1252_TO_BYTE = {ch: b for b in range(0x80, 0xA0) if (ch := _cp1252_char(b)) is not None}
_CONT = "[\x80-\xbf" + "".join(_CP1252_TO_BYTE) + "]"
_MOJIBAKE_RE = re.compile(f"[\xc2-\xdf]{_CONT}|[\xe0-\xef]{_CONT}{{2}}|[\xf0-\xf4]{_CONT}{{3}}")


def _as_byte(ch: str) -> int:
    return ord(ch) if ord(ch) < 0x100 else _CP1252_TO_BYTE[ch]


def _plausible(decoded: str) -> bool:
    """A character real Vietnamese text contains (Latin letters and marks, punctuation, ₫)."""
    cp = ord(decoded[0])
    return 0xA0 <= cp < 0x250 or 0x300 <= cp < 0x370 or 0x1E00 <= cp < 0x1F00 or 0x2000 <= cp < 0x20B0


def repair_mojibake(text: str) -> tuple[str, int]:
    """Undo UTF-8 that was decoded as Windows-1252 (or Latin-1); returns (text, repairs).

    Works sequence by sequence, so a document that is only partly garbled is mended where it
    is garbled and left alone elsewhere.
    """
    count = 0

    def fix(match: re.Match) -> str:
        nonlocal count
        raw = bytes(_as_byte(ch) for ch in match.group(0))
        try:
            decoded = raw.decode("utf-8")
        except UnicodeDecodeError:
            return match.group(0)
        if not _plausible(decoded):
            return match.group(0)  # "QUÊ”" is C3 8A 94, which happens to be valid UTF-8
        count += 1
        return decoded

    return _MOJIBAKE_RE.sub(fix, text), count


# ---------------------------------------------------------------------------------------------
# Choosing a reading
# ---------------------------------------------------------------------------------------------

LEGACY_NAMES = {"tcvn3": "TCVN3 (ABC)", "vni": "VNI"}
_LINE_CONVERTERS = {"tcvn3": _tcvn3_line, "vni": from_vni}

# Precomposed letters that only Unicode text contains; a line holding one was not typed in a
# legacy encoding (those produce Latin-1 characters only).
_UNICODE_ONLY = re.compile("[\u0100-\u01b0\u1ea0-\u1ef9]")


class LegacyUnsure(Exception):
    """A legacy conversion helps, but not clearly enough to trust it."""

    def __init__(self, best: str, before: Score, after: Score):
        super().__init__(best)
        self.best, self.before, self.after = best, before, after


@dataclass
class Reading:
    text: str
    legacy: str | None = None  # "tcvn3" / "vni" when converted
    lines_converted: int = 0
    lines_kept: int = 0  # lines the conversion would change but that read better as they are


def _convert_lines(text: str, label: str) -> tuple[str, int, int, Score]:
    """Convert the lines that read better converted.

    Returns (text, lines converted, lines left as they were though conversion would change
    them, score of the result).

    Line by line, because documents are often mixed: a Unicode letterhead pasted above a
    body typed in TCVN3.
    """
    convert = _LINE_CONVERTERS[label]
    out, changed, kept, total = [], 0, 0, Score()
    for line in text.split("\n"):
        converted = line if line.isascii() and label == "vni" else convert(line)
        before = score(line)
        if converted == line:
            out.append(line)
            total += before
            continue
        after = score(converted)
        tie_but_legacy = after.net == before.net and not _UNICODE_ONLY.search(line)
        if after.net > before.net or tie_but_legacy:
            out.append(converted)
            changed += 1
            total += after
        else:
            out.append(line)
            kept += 1
            total += before
    return "\n".join(out), changed, kept, total


_SAMPLE_CHARS = 200_000


def sample(text: str) -> str:
    """At most about ``_SAMPLE_CHARS`` of the lines that could need converting (the non-ASCII
    ones), spread evenly over the text: enough to decide, bounded for a huge file."""
    if len(text) <= _SAMPLE_CHARS:
        return text
    lines = [line for line in text.split("\n") if not line.isascii()]
    size = sum(len(line) + 1 for line in lines)
    step = -(-size // _SAMPLE_CHARS)  # ceiling division
    return "\n".join(lines[::step])


def best_reading(text: str, *, hint: str | None = None, legacy_likely: bool = False) -> Reading:
    """Return ``text`` as is, or converted from TCVN3/VNI when that clearly reads better.

    ``hint`` names an encoding suggested by other evidence (a ``.VnTime`` font in a .docx);
    it lets a short text convert on less evidence, but a conversion still has to win.
    ``legacy_likely`` says the text cannot be Unicode Vietnamese (bytes that were not UTF-8,
    read as Windows-1252), so a conversion that changes something and loses nothing wins:
    VNI "Boá" reads as a syllable too, yet in such a file it can only be "Bố".
    Raises ``LegacyUnsure`` when a conversion helps but not decisively and the text as is
    does not read as Vietnamese either.

    The decision is taken on a sample of a long text; the chosen conversion is then applied
    to all of it, line by line.
    """
    sampled = sample(text)
    decided = _decide(sampled, hint=hint, legacy_likely=legacy_likely)
    if decided is None:
        return Reading(text)
    label, (converted, changed, kept, _) = decided
    if sampled is text:
        return Reading(converted, label, changed, kept)
    if kept:
        # Mixed in the sample: decide line by line over the whole text too.
        converted, changed, kept, _ = _convert_lines(text, label)
        return Reading(converted, label, changed, kept)
    # Every sampled line converted: convert all of it without scoring each line.
    lines = text.split("\n")
    out = [_LINE_CONVERTERS[label](line) for line in lines]
    return Reading("\n".join(out), label, sum(a != b for a, b in zip(lines, out)))


def _decide(text: str, *, hint: str | None, legacy_likely: bool):
    """(label, _convert_lines result) of the conversion to apply, or None."""
    base = score(text)
    if base.bad == 0 and not legacy_likely:
        return None
    # A conversion that changes nothing is no reading of its own.
    options = {
        label: result for label in _LINE_CONVERTERS if (result := _convert_lines(text, label))[1]
    }
    if not options:
        return None
    best = max(options, key=lambda label: options[label][3].net)
    after = options[best][3]
    rivals = [result[3].net for label, result in options.items() if label != best]
    if not legacy_likely:
        rivals.append(base.net)  # "as it is" is a reading too, unless it cannot be
    margin = after.net - max(rivals, default=after.net - 1)
    needed = 1 if legacy_likely or hint == best else 2
    gain = after.net - base.net
    if after.ratio >= 0.8 and margin >= needed and gain >= 0:
        return best, options[best]
    if gain > 0 and base.ratio < 0.7:
        raise LegacyUnsure(best, base, after)
    return None
