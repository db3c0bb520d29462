"""``schemas.names``: names in every script to their Latin form (ICAO Doc 9303 Part 3
where it has a table) and their original script. Pure: examples per script."""

from __future__ import annotations

import pytest

from schemas.entities import is_placeholder_name, normalise_name
from schemas.names import latin, name_forms, original_script, person_forms


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        # ICAO 9303-3 section 6: multinational Latin characters (first recommendation).
        ("Müller", "mueller"),
        ("Jürgen Schröder", "juergen schroeder"),
        ("Käthe", "kaethe"),
        ("Åsa Åström", "aasa aastroem"),
        ("Søren Løvås", "soeren loevaas"),
        ("Strauß", "strauss"),
        ("Þórður Guðmundsson", "thordur gudmundsson"),
        ("Ĳsbrand", "ijsbrand"),
        ("Œuvray", "oeuvray"),
        ("Łukasz Wałęsa", "lukasz walesa"),  # Ł does not decompose: it used to vanish
        ("Đorđe Đorđević", "dorde dordevic"),
        ("İlkay Gündoğan", "ilkay guendogan"),
        ("Yıldız", "yildiz"),
        ("Muñoz Núñez", "munoz nunez"),
        ("François Lefèvre", "francois lefevre"),
        ("Nguyễn Văn Đức", "nguyen van duc"),
        # Pacific names: macrons fold, the ʻokina and apostrophes join.
        ("Tūpou-Fifita, Sione", "tupou fifita sione"),
        ("Kaʻili", "kaili"),
        ("O'Brien", "obrien"),
    ],
)
def test_latin_with_diacritics_follows_icao(name: str, expected: str) -> None:
    assert latin(name) == expected
    assert normalise_name(name) == expected
    assert original_script(name) == ""  # Latin: the Latin form says it all


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        # ICAO 9303-3's Cyrillic table (Russian passports since 2013).
        ("Юлия Иванова", "iuliia ivanova"),
        ("Щербаков", "shcherbakov"),
        ("Хрущёв", "khrushchev"),
        ("Цой", "tsoi"),
        ("Чайковский", "chaikovskii"),
        ("Жуков", "zhukov"),
        ("Объедков", "obieedkov"),  # Ъ → IE
        ("Ильин", "ilin"),  # Ь → nothing
        ("Эдуард", "eduard"),
        ("Семёнов", "semenov"),  # Ё → E
        ("Ярослава", "iaroslava"),
        ("Євген Їжак", "ievgen izhak"),
        ("Љубиша Његош", "ljubisha njegosh"),
    ],
)
def test_cyrillic_follows_icao(name: str, expected: str) -> None:
    assert latin(name) == expected


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        # Pinyin without tones; a whole name splits into family and given name.
        ("李伟明", "li weiming"),
        ("王芳", "wang fang"),
        ("欧阳娜娜", "ouyang nana"),  # compound surname
        ("司马光", "sima guang"),
        ("張偉", "zhang wei"),  # traditional characters
        ("曾伟", "zeng wei"),  # 曾 as a family name is Zeng, not Ceng
        ("单芳", "shan fang"),
        ("李 伟明", "li weiming"),  # already split by the writer
    ],
)
def test_chinese_is_pinyin_family_name_first(name: str, expected: str) -> None:
    assert latin(name) == expected


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        # Hindi as Indian passports write it: the inherent a dropped where it is silent.
        ("राजेश कुमार", "rajesh kumar"),
        ("शर्मा", "sharma"),
        ("कमला", "kamla"),
        ("भरत", "bharat"),
        ("कृष्ण", "krishna"),  # kept after a conjunct
        ("लक्ष्मी", "lakshmi"),
        ("सिंह", "singh"),
        ("संजय", "sanjay"),
        ("सञ्जय", "sanjay"),  # the same name with a nasal conjunct
        ("अंजलि", "anjali"),
        ("संपत", "sampat"),  # anusvara before a labial
        ("जगदीश", "jagdish"),
        ("ज़ाकिर ख़ान", "zakir khan"),  # nukta
    ],
)
def test_devanagari_as_hindi_passports_write_it(name: str, expected: str) -> None:
    assert latin(name) == expected


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        # ICAO's Arabic letters without the MRZ's X escapes; short vowels are not written.
        ("محمد علي", "mhmd eli"),
        ("خالد الشامي", "khald alshami"),
        ("يوسف", "yusf"),
        ("وليد", "wlid"),
        ("سعيد", "seid"),
        ("فاطمة", "fatmah"),
        ("مُحَمَّد", "muhamad"),  # written vowels are kept
        ("كريم", "krim"),
    ],
)
def test_arabic_best_effort(name: str, expected: str) -> None:
    assert latin(name) == expected


def test_persian_keyboard_letters_read_as_arabic() -> None:
    assert latin("کریم") == latin("كريم")  # keheh and farsi yeh
    assert original_script("کریم") == original_script("كريم")


def test_other_scripts_fall_back_to_anyascii() -> None:
    assert latin("Σωκράτης") == "sokratis"
    assert latin("김민준") == "kim minjun"  # Korean family name as passports spell it
    assert latin("ＬＩ　ＷＥＩ") == "li wei"  # full-width letters


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("أحمد", "احمد"),  # hamza on the alef
        ("فاطمة", "فاطمه"),  # ta marbuta
        ("ليلى", "ليلي"),  # alef maqsura
        ("مُحَمَّد", "محمد"),  # vowel marks
        ("Фёдоров", "ФЕДОРОВ"),  # ё, case
        ("ज़ाकिर", "जाकिर"),  # nukta
        ("पाँडे", "पांडे"),  # chandrabindu
        ("李伟明", "李 伟明"),  # CJK has no spaces
        ("Иванова Юлия", "Юлия Иванова"),  # word order
    ],
)
def test_original_script_folds_what_writers_vary(a: str, b: str) -> None:
    assert original_script(a) == original_script(b) != ""


def test_the_original_script_is_kept_beside_the_latin_form() -> None:
    forms = name_forms("李伟明")
    assert (forms.latin, forms.original) == ("li weiming", "李伟明")
    assert name_forms("محمد").abjad and not name_forms("Юлия").abjad
    assert not name_forms("???") and not name_forms("")


def test_umlauts_have_the_second_spelling_icao_allows() -> None:
    forms = name_forms("Jürgen Müller")
    assert (forms.latin, forms.plain) == ("juergen mueller", "jurgen muller")
    assert person_forms("Müller", "Jürgen").plain == "jurgen muller"
    assert name_forms("Søren").plain == "soren"
    assert name_forms("Strauß").plain == "" and name_forms("李伟明").plain == ""


def test_person_forms_put_a_chinese_family_name_first_in_the_original() -> None:
    split = person_forms("李", "伟明")
    assert split.latin == "weiming li"  # given then family, as before
    assert split.original == name_forms("李伟明").original == "李伟明"
    assert person_forms("曾", "伟").latin == "wei zeng"
    assert person_forms("Li", "Weiming").original == ""


def test_non_latin_names_are_not_placeholders() -> None:
    # They used to normalise to "" and so read as "no name".
    assert not is_placeholder_name("李伟明")
    assert not is_placeholder_name("محمد")
    assert is_placeholder_name("UNKNOWN") and is_placeholder_name("???")
