"""Vietnamese text normalisation shared by every layer.

Three forms of the same text matter:

* **display** – NFC, as the document said it (``nfc``);
* **canonical** – NFC, lower-case, with the tone mark of every syllable moved to one fixed
  vowel, so that old and new tone placement (*hoá*/*hóa*, *thuỷ*/*thủy*) compare equal
  (``canonical``); used for hashing and the accented lexical field;
* **folded** – canonical with every diacritic removed and ``đ`` → ``d`` (``fold``); used to match
  text typed without diacritics.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from functools import lru_cache

# Combining tone marks (the five Vietnamese tones besides level).
_TONES = {"\u0300", "\u0301", "\u0303", "\u0309", "\u0323"}
_VOWELS = set("aăâeêioôơuưy")
_HAT_VOWELS = set("ăâêôơư")
_WORD_RE = re.compile(r"\w+", re.UNICODE)
# A syllable for tone placement: a word with the combining marks that NFC could not fold into
# its letters ("ỳ" + a second grave); leaving those outside would make canonical() depend on
# whether it already ran (the mark re-attaches to the next call's word).
_SYLLABLE_RE = re.compile(r"\w[\w\u0300-\u036f]*", re.UNICODE)


def nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


@lru_cache(maxsize=200_000)
def _canonical_syllable(word: str) -> str:
    """Re-place the tone mark of one lower-case syllable on a fixed vowel.

    The rule is the traditional one (open two-vowel clusters carry the tone on the first
    vowel: *hóa*, *thủy*, *khỏe*); any fixed rule would do, it only has to be the same for the
    old and new spellings.
    """
    decomposed = unicodedata.normalize("NFD", word)
    tone = next((ch for ch in decomposed if ch in _TONES), None)
    if tone is None:
        return word
    bare = unicodedata.normalize("NFC", "".join(ch for ch in decomposed if ch not in _TONES))
    chars = list(bare)
    # Vowel positions, skipping the glide of "qu" and the "i" of "gi" before another vowel.
    idx = [i for i, ch in enumerate(chars) if ch in _VOWELS]
    if not idx:
        return word
    if len(idx) > 1 and idx[0] > 0:
        prev = chars[idx[0] - 1]
        if (prev == "q" and chars[idx[0]] == "u") or (prev == "g" and chars[idx[0]] == "i"):
            idx = idx[1:]
    # Keep only the first contiguous vowel run (a syllable has one nucleus).
    run = [idx[0]]
    for i in idx[1:]:
        if i == run[-1] + 1:
            run.append(i)
        else:
            break
    hats = [i for i in run if chars[i] in _HAT_VOWELS]
    if hats:
        # "ươ" carries the tone on "ơ"; otherwise the single hatted vowel.
        target = hats[-1]
    elif len(run) == 1:
        target = run[0]
    else:
        closed = run[-1] < len(chars) - 1
        if closed:
            target = run[-1]
        elif len(run) == 3:
            target = run[1]
        else:
            target = run[0]
    chars[target] = unicodedata.normalize("NFC", chars[target] + tone)
    return "".join(chars)


def canonical(text: str) -> str:
    """Lower-case NFC text with tone marks in one canonical position."""
    text = nfc(text).lower()
    return nfc(_SYLLABLE_RE.sub(lambda m: _canonical_syllable(m.group(0)), text))


_FOLD_TABLE = str.maketrans({"đ": "d", "Đ": "D"})


def strip_diacritics(text: str) -> str:
    """Remove every diacritic (tones and vowel hats) and map đ → d; keeps case."""
    decomposed = unicodedata.normalize("NFD", text.translate(_FOLD_TABLE))
    return unicodedata.normalize("NFC", "".join(ch for ch in decomposed if not unicodedata.combining(ch)))


def fold(text: str) -> str:
    """Lower-case text without any diacritic: what a user types on a bare keyboard."""
    return strip_diacritics(nfc(text).lower())


def has_diacritics(text: str) -> bool:
    return fold(text) != nfc(text).lower()


def words(text: str) -> list[str]:
    return _WORD_RE.findall(text)


def text_hash(text: str) -> str:
    """Hash of the canonical, whitespace-collapsed text: equal for texts that differ only in
    Unicode form, tone placement, case or spacing (the embedding-cache key)."""
    norm = " ".join(canonical(text).split())
    return hashlib.sha256(norm.encode("utf-8")).hexdigest()[:32]


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
