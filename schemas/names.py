"""Names in every script, made comparable: the Latin form a travel document prints, and
the name in its own script beside it. Pure: text in, text out (``anyascii`` reads its own
packaged tables, once per Unicode block, as an import would).

:func:`latin` writes a name in lower-case ASCII words, letter by letter, from these tables:

- **Latin letters with diacritics**: ICAO Doc 9303 Part 3, section 6 (transliteration of
  multinational Latin-based characters), first recommendation: ``Ä``→AE, ``Å``→AA,
  ``Æ``→AE, ``Ö``→OE, ``Ø``→OE, ``Ü``→UE, ``ß``→SS, ``Þ``→TH, ``Ĳ``→IJ, ``Œ``→OE, ``Ð``→D;
  every other letter loses its diacritic (``Ñ``→N, ``Ł``→L, ``Đ``→D, ``Ħ``→H, ``ı``→I).
- **Cyrillic**: Doc 9303 Part 3's Cyrillic table (the one Russian passports print):
  ``Ж``→ZH, ``Х``→KH, ``Ц``→TS, ``Ч``→CH, ``Ш``→SH, ``Щ``→SHCH, ``Ъ``→IE, ``Ы``→Y,
  ``Ь`` dropped, ``Ю``→IU, ``Я``→IA, ``Й``→I, ``Ё``→E, ``Є``→IE, ``Ї``→I, ``Ѕ``→DZ,
  ``Љ``→LJ, ``Њ``→NJ, ``Џ``→DZ. A name carries no language, so the table's per-language
  variants (Ukrainian ``И``→Y, Belarusian ``Г``→H, Bulgarian ``Щ``→SHT) are not applied.
- **Arabic** (best effort): the letters of Doc 9303 Part 3's Arabic table without the
  ``X`` escapes that make the MRZ reversible (``ح``→H not XH, ``خ``→KH, ``ش``→SH, the
  emphatics as their plain letters), ``ع``→E and final ``ة``→AH as ICAO writes them;
  ``و`` and ``ي`` between consonants are the long vowels U and I, as people romanise
  them. Short vowels are rarely written, so ``محمد`` is ``mhmd`` (the watch list
  compares such a name with a romanised one by its consonants).
- **Han** (Chinese): Hanyu Pinyin without tones, from ``anyascii``; a name written as one
  word is split as passports print it, family name (one character, or a compound
  surname such as 欧阳) then the given name as one word: ``李伟明`` → ``li weiming``; a
  family name is read as a surname (``曾`` Zeng, not Ceng). Hangul gets the same split,
  Korean family names spelt as passports spell them (``김`` Kim).
- **Devanagari** (Hindi; Doc 9303 has no table): the romanisation Indian passports use,
  with the inherent vowel dropped at the end of a word and between two single
  consonants (``राजेश`` → ``rajesh``, ``कमला`` → ``kamla``, ``कृष्ण`` → ``krishna``).
- anything else: ``anyascii``.

:class:`NameForms` also carries ICAO's second spelling of ``Ä Å Ö Ü`` (A, A, O, U).
:func:`original_script` keeps the name in its own script, folded only where writers vary
(case, Arabic alef and hamza forms, ta marbuta, diacritics; Cyrillic ``ё``; Devanagari
nukta and chandrabindu), words sorted; empty for a name written in Latin letters only.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass

from anyascii import anyascii

__all__ = ["NameForms", "latin", "name_forms", "original_script", "person_forms"]


@dataclass(frozen=True)
class NameForms:
    """One name, two ways: ``latin`` (lower-case ASCII words, never sorted) and
    ``original`` (the name in its own script, folded, words sorted; ``""`` when the name
    has no letter outside the Latin script). Both may be empty: a name of no letters.
    ``plain``: the other Latin spelling ICAO allows for ``Ä Å Ö Ü`` (A, A, O, U; ``Ø``
    as O, as keyboards without it type it), ``""`` when there is none."""

    latin: str
    original: str
    plain: str = ""

    def __bool__(self) -> bool:
        return bool(self.latin or self.original)

    @property
    def abjad(self) -> bool:
        """Written in a script that leaves short vowels out (Arabic, Hebrew): its Latin
        form has none (``محمد`` is ``mhmd``), so it compares by consonants."""
        return any(_script(char) in _ABJADS for char in self.original)


# --- scripts ---------------------------------------------------------------------------


def _script(char: str) -> str:
    o = ord(char)
    if o < 0x0250 or 0x1E00 <= o <= 0x1EFF:
        return "latin"
    if 0x0400 <= o <= 0x052F:
        return "cyrillic"
    if 0x0600 <= o <= 0x06FF or 0x0750 <= o <= 0x077F or 0x08A0 <= o <= 0x08FF:
        return "arabic"
    if 0x0590 <= o <= 0x05FF:
        return "hebrew"
    if 0x0900 <= o <= 0x097F or 0xA8E0 <= o <= 0xA8FF:
        return "devanagari"
    if (
        0x3400 <= o <= 0x4DBF
        or 0x4E00 <= o <= 0x9FFF
        or 0xF900 <= o <= 0xFAFF
        or 0x20000 <= o <= 0x3FFFF
    ):
        return "han"
    if 0xAC00 <= o <= 0xD7AF or 0x1100 <= o <= 0x11FF or 0x3130 <= o <= 0x318F:
        return "hangul"
    return "other"


_CJK = frozenset({"han", "hangul"})
_ABJADS = frozenset({"arabic", "hebrew"})
# Apostrophes and modifier letters (the Polynesian ʻokina, Arabic tatweel) join the
# letters around them: "O'Brien" is "obrien", "Taufaʻahau" is "taufaahau".
_JOINERS = frozenset("'’‘`´ʼʻʹʾʿ")


def _words(text: str) -> list[str]:
    """The words of ``text``: runs of letters and marks, anything else a separator."""
    words: list[str] = []
    current: list[str] = []
    for char in text:
        category = unicodedata.category(char)
        if char in _JOINERS or category in ("Lm", "Sk"):
            continue
        if category[0] in "LM":
            current.append(char)
        elif current:
            words.append("".join(current))
            current = []
    if current:
        words.append("".join(current))
    return words


def _runs(word: str) -> list[tuple[str, str]]:
    """``word`` cut where its script changes; a combining mark stays with its letter."""
    runs: list[tuple[str, str]] = []
    for char in word:
        script = _script(char)
        if runs and (unicodedata.category(char)[0] == "M" or runs[-1][0] == script):
            runs[-1] = (runs[-1][0], runs[-1][1] + char)
        else:
            runs.append((script, char))
    return runs


# --- Latin with diacritics: ICAO 9303-3 section 6 ----------------------------------------

_LATIN = {
    "ä": "ae", "å": "aa", "æ": "ae", "ö": "oe", "ø": "oe", "ü": "ue", "ß": "ss",
    "þ": "th", "ĳ": "ij", "œ": "oe", "ð": "d", "đ": "d", "ħ": "h", "ł": "l", "ŀ": "l",
    "ı": "i", "ŋ": "n", "ŧ": "t", "ſ": "s",
}  # fmt: skip


_LATIN_PLAIN = {**_LATIN, "ä": "a", "å": "a", "ö": "o", "ü": "u", "ø": "o"}
_TWO_SPELLINGS = frozenset("äåöüø")


def _latin_letters(run: str, table: dict[str, str]) -> str:
    out: list[str] = []
    for char in run:
        if char.isascii():
            out.append(char)
        elif char in table:
            out.append(table[char])
        else:
            base = "".join(c for c in unicodedata.normalize("NFD", char) if c.isascii())
            out.append(base or anyascii(char))
    return "".join(out)


# --- Cyrillic: ICAO 9303-3 ----------------------------------------------------------------

_CYRILLIC = {
    "а": "a", "б": "b", "в": "v", "г": "g", "д": "d", "е": "e", "ё": "e", "ж": "zh",
    "з": "z", "и": "i", "й": "i", "к": "k", "л": "l", "м": "m", "н": "n", "о": "o",
    "п": "p", "р": "r", "с": "s", "т": "t", "у": "u", "ф": "f", "х": "kh", "ц": "ts",
    "ч": "ch", "ш": "sh", "щ": "shch", "ъ": "ie", "ы": "y", "ь": "", "э": "e", "ю": "iu",
    "я": "ia", "ґ": "g", "ѓ": "g", "ђ": "d", "є": "ie", "ѕ": "dz", "і": "i", "ї": "i",
    "ј": "j", "љ": "lj", "њ": "nj", "ћ": "c", "ќ": "k", "ў": "u", "џ": "dz",
}  # fmt: skip


def _cyrillic_letters(run: str) -> str:
    return "".join(_CYRILLIC.get(char, anyascii(char)) for char in run)


# --- Arabic: ICAO 9303-3's letters, best effort -------------------------------------------

# Persian and Urdu keyboards type other code points for the same letters.
_ARABIC_KEYBOARD = {"ک": "ك", "ی": "ي", "ہ": "ه", "ھ": "ه", "ۀ": "ه"}
# Spellings of one name that writers vary: hamza forms, ta marbuta, alef maqsura.
_ARABIC_FOLD = str.maketrans({
    **_ARABIC_KEYBOARD, "أ": "ا", "إ": "ا", "آ": "ا", "ٱ": "ا", "ى": "ي", "ة": "ه",
    "ؤ": "و", "ئ": "ي",
})  # fmt: skip
_ARABIC_MARKS = re.compile("[\u064b-\u065f\u0670\u06d6-\u06ed]")  # harakat and the like
_ARABIC = {
    "ا": "a", "أ": "a", "إ": "i", "آ": "aa", "ٱ": "a", "ء": "", "ؤ": "u", "ئ": "i",
    "ب": "b", "ت": "t", "ث": "th", "ج": "j", "ح": "h", "خ": "kh", "د": "d", "ذ": "dh",
    "ر": "r", "ز": "z", "س": "s", "ش": "sh", "ص": "s", "ض": "d", "ط": "t", "ظ": "z",
    "ع": "e", "غ": "g", "ف": "f", "ق": "q", "ك": "k", "ل": "l", "م": "m", "ن": "n",
    "ه": "h", "ى": "a", "پ": "p", "چ": "ch", "ژ": "zh", "گ": "g", "ے": "e",
    "\u064e": "a", "\u064f": "u", "\u0650": "i", "\u0670": "a",  # written short vowels
}  # fmt: skip
_ARABIC_KEYBOARD_TABLE = str.maketrans(_ARABIC_KEYBOARD)
_ARABIC_VOWEL_LETTERS = frozenset("اأإآٱى")


def _arabic_letters(run: str) -> str:
    run = run.translate(_ARABIC_KEYBOARD_TABLE)
    out: list[str] = []
    for n, char in enumerate(run):
        before = run[n - 1] if n else ""
        after = run[n + 1] if n + 1 < len(run) else ""
        if char in "وي":
            # A consonant at the start, after a long a or before one; else a long vowel.
            consonant = not before or bool(_ARABIC_VOWEL_LETTERS & {before, after})
            out.append(("w" if char == "و" else "y") if consonant else "ui"[char == "ي"])
        elif char == "ة":
            out.append("ah" if not after else "t")
        elif char in _ARABIC:
            out.append(_ARABIC[char])
        elif unicodedata.category(char)[0] == "M":
            continue  # shadda, sukun, tanwin: nothing a romanised name writes
        else:
            out.append(anyascii(char))
    return "".join(out)


# --- Devanagari: the Hindi romanisation of Indian passports -------------------------------

_DEVA_CONSONANTS = {
    "क": "k", "ख": "kh", "ग": "g", "घ": "gh", "ङ": "n", "च": "ch", "छ": "chh", "ज": "j",
    "झ": "jh", "ञ": "n", "ट": "t", "ठ": "th", "ड": "d", "ढ": "dh", "ण": "n", "त": "t",
    "थ": "th", "द": "d", "ध": "dh", "न": "n", "प": "p", "फ": "ph", "ब": "b", "भ": "bh",
    "म": "m", "य": "y", "र": "r", "ल": "l", "ळ": "l", "व": "v", "श": "sh", "ष": "sh",
    "स": "s", "ह": "h",
}  # fmt: skip
_DEVA_NUKTA = {"क": "q", "ख": "kh", "ग": "gh", "ज": "z", "ड": "r", "ढ": "rh", "फ": "f"}
_DEVA_VOWELS = {
    "अ": "a", "आ": "a", "इ": "i", "ई": "i", "उ": "u", "ऊ": "u", "ऋ": "ri", "ॠ": "ri",
    "ए": "e", "ऐ": "ai", "ओ": "o", "औ": "au", "ऑ": "o", "ऍ": "e",
}  # fmt: skip
_DEVA_SIGNS = {
    "ा": "a", "ि": "i", "ी": "i", "ु": "u", "ू": "u", "ृ": "ri", "ॄ": "ri", "े": "e",
    "ै": "ai", "ो": "o", "ौ": "au", "ॉ": "o", "ॅ": "e",
}  # fmt: skip
_VIRAMA, _NUKTA, _ANUSVARA, _CHANDRABINDU, _VISARGA = "्", "़", "ं", "ँ", "ः"


@dataclass
class _Akshara:
    onset: str  # the consonants, Latin ("" for an independent vowel)
    vowel: str | None  # None: the inherent a, not yet dropped; "": no vowel
    cluster: bool = False  # the onset is a conjunct (two or more consonants)
    coda: str = ""  # anusvara ("n"), visarga ("h")

    @property
    def voiced(self) -> bool:
        return self.vowel != ""


def _aksharas(run: str) -> list[_Akshara]:
    text = unicodedata.normalize("NFD", run)
    units: list[_Akshara] = []
    pending = ""  # consonants joined by a virama to the next one
    i = 0
    while i < len(text):
        char = text[i]
        i += 1
        if char in _DEVA_CONSONANTS:
            sound = _DEVA_CONSONANTS[char]
            if i < len(text) and text[i] == _NUKTA:
                sound = _DEVA_NUKTA.get(char, sound)
                i += 1
            if i < len(text) and text[i] == _VIRAMA:
                pending += sound
                i += 1
                continue
            unit = _Akshara(pending + sound, None, cluster=bool(pending))
            pending = ""
            if i < len(text) and text[i] in _DEVA_SIGNS:
                unit.vowel = _DEVA_SIGNS[text[i]]
                i += 1
            units.append(unit)
        elif char in _DEVA_VOWELS:
            units.append(_Akshara(pending, _DEVA_VOWELS[char]))
            pending = ""
        elif char in (_ANUSVARA, _CHANDRABINDU) and units:
            units[-1].coda += "n"
        elif char == _VISARGA and units:
            units[-1].coda += "h"
    if pending:
        units.append(_Akshara(pending, ""))
    return units


def _devanagari_letters(run: str) -> str:
    units = _aksharas(run)
    if not units:
        return ""
    # Schwa deletion: the inherent a is not said (nor written) at the end of a word
    # after a single consonant, nor between two single consonants that both carry a
    # vowel (right to left, so two neighbours never both lose theirs).
    last = units[-1]
    if len(units) > 1 and last.vowel is None and not last.cluster:
        last.vowel = ""
    for k in range(len(units) - 2, 0, -1):
        unit, before, after = units[k], units[k - 1], units[k + 1]
        if unit.vowel is not None or unit.cluster or unit.coda:
            continue
        between_singles = after.onset and not after.cluster and not before.coda
        if between_singles and before.voiced and after.voiced:
            unit.vowel = ""
    out: list[str] = []
    for k, unit in enumerate(units):
        coda = unit.coda
        following = units[k + 1].onset if k + 1 < len(units) else ""
        if coda.startswith("n") and following[:1] in ("p", "b", "m"):
            coda = "m" + coda[1:]
        elif coda.startswith("n") and following == "h" and k + 2 == len(units):
            coda = "ng" + coda[1:]  # सिंह: Singh
        out.append(unit.onset + ("a" if unit.vowel is None else unit.vowel) + coda)
    return "".join(out)


# --- Han and Hangul -----------------------------------------------------------------------

# Two-character family names (simplified and traditional forms).
_COMPOUND_SURNAMES = frozenset({
    "欧阳", "歐陽", "司马", "司馬", "诸葛", "諸葛", "上官", "东方", "東方", "皇甫", "尉迟",
    "尉遲", "公孙", "公孫", "令狐", "慕容", "司徒", "夏侯", "长孙", "長孫", "宇文", "轩辕",
    "軒轅", "端木", "独孤", "獨孤", "南宫", "南宮", "西门", "西門", "申屠", "澹台", "闻人",
    "聞人", "濮阳", "濮陽", "太史", "钟离", "鍾離", "赫连", "赫連", "拓跋", "万俟", "萬俟",
})  # fmt: skip
# Family names read otherwise than the character's common reading (曾 is Zeng as a
# name, Ceng elsewhere), and Korean family names as Korean passports spell them.
_SURNAME_READINGS = {
    "曾": "Zeng", "单": "Shan", "單": "Shan", "解": "Xie", "仇": "Qiu", "朴": "Piao",
    "区": "Ou", "區": "Ou", "查": "Zha", "盖": "Ge", "蓋": "Ge", "乐": "Yue", "樂": "Yue",
    "覃": "Qin", "翟": "Zhai", "召": "Shao", "缪": "Miao", "繆": "Miao", "秘": "Bi",
    "种": "Chong", "员": "Yun", "員": "Yun", "藏": "Zang", "句": "Gou", "薄": "Bo",
    "尉迟": "Yuchi", "尉遲": "Yuchi", "万俟": "Moqi", "萬俟": "Moqi",
    "김": "Kim", "이": "Lee", "박": "Park", "최": "Choi", "정": "Jung", "강": "Kang",
    "조": "Cho", "윤": "Yoon", "장": "Jang", "임": "Lim", "오": "Oh", "서": "Seo",
    "신": "Shin", "권": "Kwon", "황": "Hwang", "안": "Ahn", "류": "Ryu", "유": "Yoo",
    "전": "Jeon", "고": "Ko", "문": "Moon", "손": "Son", "백": "Baek", "노": "Noh",
}  # fmt: skip


def _syllables(run: str) -> str:
    return "".join(anyascii(char) for char in run)


def _surname(run: str) -> str:
    for cut in (2, 1):
        if run[:cut] in _SURNAME_READINGS:
            return _SURNAME_READINGS[run[:cut]] + _syllables(run[cut:])
    return _syllables(run)


def _cjk_words(run: str, role: str) -> list[str]:
    """A Han or Hangul run as Latin words. ``role`` ``"whole"`` (the run is a whole
    name): the family name, then the given name as one word, as passports print them;
    ``"family"``: read as a family name; else one word."""
    if role == "family":
        return [_surname(run)]
    if role != "whole" or len(run) < 2:
        return [_syllables(run)]
    cut = 2 if run[:2] in _COMPOUND_SURNAMES else 1
    return [_surname(run[:cut]), _syllables(run[cut:])]


# --- the forms ----------------------------------------------------------------------------

_NOT_ASCII_LETTER = re.compile(r"[^a-z]+")
_ASCII_JOINERS = str.maketrans("", "", "'`^")


def latin(text: str, *, whole_name: bool = True) -> str:
    """``text`` in lower-case ASCII words (the tables in the module docstring); ``""`` if
    nothing in it is a letter. ``whole_name``: a Han or Hangul name written as one word
    is split into family and given name (``False`` for one field of a split name)."""
    return _latin(text, "whole" if whole_name else "part")


def _latin(text: str, role: str, *, plain: bool = False) -> str:
    if text.isascii():  # most names on a Pacific list: no table to look up
        return " ".join(_NOT_ASCII_LETTER.sub(" ", text.lower().translate(_ASCII_JOINERS)).split())
    words = _words(unicodedata.normalize("NFKC", text).casefold())
    role = role if len(words) == 1 else "part"
    latin_words = (_latin_word(word, role, plain) for word in words)
    return " ".join(_NOT_ASCII_LETTER.sub(" ", " ".join(latin_words)).split())


@functools.lru_cache(maxsize=1 << 16)  # names repeat: a list of 100k has far fewer words
def _latin_word(word: str, role: str, plain: bool) -> str:
    pieces: list[str] = []
    runs = _runs(word)
    for script, run in runs:
        if script in _CJK:
            pieces.append(" ".join(_cjk_words(run, role if len(runs) == 1 else "part")))
        elif script == "latin":
            pieces.append(_latin_letters(run, _LATIN_PLAIN if plain else _LATIN))
        elif script == "cyrillic":
            pieces.append(_cyrillic_letters(run))
        elif script == "arabic":
            pieces.append(_arabic_letters(run))
        elif script == "devanagari":
            pieces.append(_devanagari_letters(run))
        else:
            pieces.append(anyascii(run))
    return "".join(pieces).lower()


def _fold_original(text: str) -> str:
    text = _ARABIC_MARKS.sub("", unicodedata.normalize("NFKC", text).casefold())
    text = text.translate(_ARABIC_FOLD).replace("ё", "е").replace(_CHANDRABINDU, _ANUSVARA)
    text = unicodedata.normalize("NFD", text).replace(_NUKTA, "")
    return unicodedata.normalize("NFC", text)


def _latin_only(text: str) -> bool:
    return text.isascii() or all(_script(c) == "latin" for c in text if c.isalpha())


def _foreign(words: list[str]) -> bool:
    return any(char.isalpha() and _script(char) != "latin" for word in words for char in word)


def _is_cjk(word: str) -> bool:
    return all(_script(char) in _CJK for char in word)


def _join_cjk(words: list[str]) -> list[str]:
    """Han and Hangul are written without spaces: neighbouring CJK words are one."""
    out: list[str] = []
    for word in words:
        if out and _is_cjk(word) and _is_cjk(out[-1]):
            out[-1] += word
        else:
            out.append(word)
    return out


def original_script(text: str) -> str:
    """``text`` in its own script, folded and with its words sorted; ``""`` when every
    letter of it is Latin (the Latin form says it all)."""
    if _latin_only(text):
        return ""
    words = _words(_fold_original(text))
    if not _foreign(words):
        return ""
    return " ".join(sorted(_join_cjk(words)))


def _two_spellings(*texts: str) -> bool:
    return any(not t.isascii() and _TWO_SPELLINGS & set(t.casefold()) for t in texts)


def name_forms(text: str) -> NameForms:
    """The forms of one name written as a whole (an alias, a full name)."""
    latin_form = latin(text)
    plain = _latin(text, "whole", plain=True) if _two_spellings(text) else ""
    return NameForms(latin_form, original_script(text), plain if plain != latin_form else "")


def person_forms(family_name: str, given_names: str = "") -> NameForms:
    """The forms of a person's name given as family and given names. The Latin form is
    ``given family``; the original puts a CJK family name first (李 + 伟明 = 李伟明)."""
    if not given_names.strip():
        return name_forms(family_name)
    words = [_latin(given_names, "given"), _latin(family_name, "family")]
    original = ""
    if not (_latin_only(family_name) and _latin_only(given_names)):
        folded = _words(_fold_original(family_name)) + _words(_fold_original(given_names))
        if _foreign(folded):
            original = " ".join(sorted(_join_cjk(folded)))
    latin_form = " ".join(w for w in words if w)
    plain = ""
    if _two_spellings(family_name, given_names):
        both = [_latin(given_names, "given", plain=True), _latin(family_name, "family", plain=True)]
        plain = " ".join(w for w in both if w)
    return NameForms(latin_form, original, plain if plain != latin_form else "")
