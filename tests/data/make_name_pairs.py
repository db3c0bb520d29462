"""Writes ``name_pairs.csv``: labelled pairs of person names in five script groups, for
measuring the watch-list matcher and the hub's person correlation (``bench/names.py``).

No real person's data: every name is built from lists of common given and family names
per language (as public frequency lists and naming guides give them) combined at
random with a fixed seed, and written the ways travel documents and officers write
them. The labels come from how each pair was built, never from a matcher:

- ``same_person = 1``: one generated person written two ways (the same script twice,
  the original script and its passport romanisation, a conventional romanisation,
  family and given name swapped, an orthographic variant of the original script);
- ``same_person = 0``: two generated persons whose names are close on purpose (hard
  negatives: one confusable given or family name, Chinese homophones, male and female
  forms) or unrelated.

A name is ``family, given`` when it holds a comma, else one free-text name.

    .venv/bin/python tests/data/make_name_pairs.py     # rewrites tests/data/name_pairs.csv
"""

from __future__ import annotations

import csv
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

OUT = Path(__file__).with_name("name_pairs.csv")
SEED = 9303


@dataclass(frozen=True)
class Part:
    """One family or given name: as written in its script, the form a passport prints,
    and other romanisations people write."""

    original: str
    passport: str
    variants: tuple[str, ...] = ()

    @property
    def spellings(self) -> tuple[str, ...]:
        return (self.passport, *self.variants)


@dataclass(frozen=True)
class Person:
    family: Part
    given: Part


@dataclass(frozen=True)
class Row:
    name_a: str
    name_b: str
    script: str
    same_person: int
    kind: str
    source: str


def parts(spec: str) -> list[Part]:
    """``original=PASSPORT/variant/variant`` per line."""
    out = []
    for line in spec.strip().splitlines():
        original, latin = line.split("=")
        passport, *variants = latin.split("/")
        out.append(Part(original.strip(), passport.strip(), tuple(v.strip() for v in variants)))
    return out


def words(spec: str) -> list[str]:
    return spec.split()


def pairs(spec: str) -> list[tuple[str, str]]:
    return [(a, b) for a, b in (line.split() for line in spec.strip().splitlines())]


# --- Chinese ------------------------------------------------------------------------------
# Common family names (frequency lists of Chinese surnames), Hanyu Pinyin as PRC
# passports print it; a Hong Kong (Cantonese) spelling where common.
ZH_FAMILY = parts("""
王=WANG/Wong
李=LI/Lee
张=ZHANG/Cheung
刘=LIU/Lau
陈=CHEN/Chan
杨=YANG/Yeung
黄=HUANG/Wong
赵=ZHAO/Chiu
吴=WU/Ng
周=ZHOU/Chow
徐=XU/Tsui
孙=SUN/Suen
马=MA/Ma
朱=ZHU/Chu
胡=HU/Wu
郭=GUO/Kwok
何=HE/Ho
林=LIN/Lam
高=GAO/Ko
罗=LUO/Law
郑=ZHENG/Cheng
梁=LIANG/Leung
谢=XIE/Tse
宋=SONG/Sung
唐=TANG/Tong
韩=HAN/Hon
冯=FENG/Fung
邓=DENG/Tang
曹=CAO/Tso
彭=PENG/Pang
曾=ZENG/Tsang
田=TIAN/Tin
董=DONG/Tung
潘=PAN/Poon
袁=YUAN/Yuen
蔡=CAI/Choi
蒋=JIANG/Cheung
杜=DU/To
叶=YE/Yip
程=CHENG/Ching
魏=WEI/Ngai
苏=SU/So
丁=DING/Ting
沈=SHEN/Shum
姚=YAO/Yiu
钟=ZHONG/Chung
范=FAN/Fan
方=FANG/Fong
石=SHI/Shek
欧阳=OUYANG/Au Yeung
司马=SIMA/Sze Ma
上官=SHANGGUAN/Sheung Kwun
""")
ZH_TRADITIONAL = dict(
    pairs("""
张 張
刘 劉
陈 陳
杨 楊
黄 黃
赵 趙
吴 吳
孙 孫
马 馬
罗 羅
郑 鄭
谢 謝
韩 韓
冯 馮
邓 鄧
蒋 蔣
叶 葉
苏 蘇
钟 鍾
欧阳 歐陽
司马 司馬
伟 偉
静 靜
丽 麗
强 強
军 軍
艳 艷
杰 傑
涛 濤
刚 剛
华 華
兰 蘭
国 國
辉 輝
鹏 鵬
东 東
红 紅
云 雲
飞 飛
凯 凱
""")
)
# Characters common in given names, with their Pinyin and a Cantonese reading.
ZH_GIVEN_CHARS = parts("""
伟=WEI/Wai
芳=FANG/Fong
娜=NA/Na
敏=MIN/Man
静=JING/Ching
丽=LI/Lai
强=QIANG/Keung
磊=LEI/Lui
军=JUN/Kwan
洋=YANG/Yeung
勇=YONG/Yung
艳=YAN/Yim
杰=JIE/Kit
娟=JUAN/Kuen
涛=TAO/To
明=MING/Ming
超=CHAO/Chiu
秀=XIU/Sau
霞=XIA/Ha
平=PING/Ping
刚=GANG/Kong
英=YING/Ying
华=HUA/Wah
兰=LAN/Lan
建=JIAN/Kin
国=GUO/Kwok
文=WEN/Man
辉=HUI/Fai
鹏=PENG/Pang
宇=YU/Yu
浩=HAO/Ho
婷=TING/Ting
雪=XUE/Suet
晨=CHEN/San
欣=XIN/Yan
佳=JIA/Kai
峰=FENG/Fung
海=HAI/Hoi
东=DONG/Tung
红=HONG/Hung
梅=MEI/Mui
志=ZHI/Chi
春=CHUN/Chun
云=YUN/Wan
飞=FEI/Fei
斌=BIN/Bun
波=BO/Po
亮=LIANG/Leung
凯=KAI/Hoi
""")
# Homophones: another character with the same Pinyin (two people, one passport name).
ZH_HOMOPHONE_FAMILY = pairs("""
王 汪
徐 许
张 章
刘 柳
周 舟
林 凌
陈 沉
""")
ZH_HOMOPHONE_GIVEN = pairs("""
敏 民
静 晶
杰 洁
伟 威
芳 方
宇 玉
欣 新
军 俊
丽 莉
明 鸣
""")
ZH_EXTRA_PINYIN = {
    "汪": "WANG", "许": "XU", "章": "ZHANG", "柳": "LIU", "舟": "ZHOU", "凌": "LING",
    "沉": "CHEN", "民": "MIN", "晶": "JING", "洁": "JIE", "威": "WEI", "方": "FANG",
    "玉": "YU", "新": "XIN", "俊": "JUN", "莉": "LI", "鸣": "MING",
}  # fmt: skip
# Near-homophones: a given-name character whose Pinyin differs a little.
ZH_NEAR_GIVEN = pairs("""
明 民
静 金
伟 维
强 祥
涛 韬
华 桦
""")
ZH_EXTRA_PINYIN |= {"金": "JIN", "维": "WEI", "祥": "XIANG", "韬": "TAO", "桦": "HUA"}


def zh_person(rng: random.Random) -> Person:
    family = rng.choice(ZH_FAMILY)
    chars = rng.sample(ZH_GIVEN_CHARS, 2 if rng.random() < 0.75 else 1)
    given = Part(
        "".join(c.original for c in chars),
        "".join(c.passport for c in chars),
        (" ".join(c.variants[0] for c in chars),),
    )
    return Person(family, given)


def zh_pinyin(text: str) -> str:
    table = {p.original: p.passport for p in [*ZH_FAMILY, *ZH_GIVEN_CHARS]} | ZH_EXTRA_PINYIN
    if text in table:
        return table[text]
    return "".join(table[c] for c in text)


def zh_swap_given(p: Person, old: str, new: str) -> Person:
    original = p.given.original.replace(old, new, 1)
    return Person(p.family, Part(original, zh_pinyin(original)))


def zh_traditional(text: str) -> str:
    if text in ZH_TRADITIONAL:
        return ZH_TRADITIONAL[text]
    return "".join(ZH_TRADITIONAL.get(c, c) for c in text)


def zh_rows(rng: random.Random) -> list[Row]:
    src = (
        "generated: common Chinese surnames and given-name characters (public frequency"
        " lists), Hanyu Pinyin without tones as PRC passports print it"
    )
    rows: list[Row] = []

    def add(a: str, b: str, same: int, kind: str, source: str = src) -> None:
        rows.append(Row(a, b, "chinese", same, kind, source))

    def whole(p: Person) -> str:  # as written in Chinese: family then given, no space
        return p.family.original + p.given.original

    def split(p: Person) -> str:
        return f"{p.family.original}, {p.given.original}"

    def passport(p: Person) -> str:
        return f"{p.family.passport}, {p.given.passport}"

    def pinyin_spaced(p: Person) -> str:  # "Wei Ming Li" / "Li Wei-Ming"
        syllables = [zh_pinyin(c).title() for c in p.given.original]
        family = p.family.passport.title()
        if rng.random() < 0.5:
            return f"{' '.join(syllables)} {family}"
        return f"{family} {'-'.join(syllables)}"

    people = [zh_person(rng) for _ in range(80)]
    for p in people[:14]:
        add(whole(p), whole(p), 1, "same original script")
    for p in people[14:22]:
        add(split(p), whole(p), 1, "same original script, split and whole")
    for p in people[22:38]:
        add(whole(p), passport(p), 1, "original vs passport romanisation")
    for p in people[38:46]:
        add(split(p), passport(p), 1, "original vs passport romanisation")
    for p in people[46:54]:
        add(passport(p), f"{p.given.passport.title()} {p.family.passport.title()}", 1,
            "name order swapped")  # fmt: skip
    for p in people[54:60]:
        add(whole(p), f"{p.given.passport} {p.family.passport}", 1, "name order swapped")
    for p in people[60:68]:
        add(passport(p), pinyin_spaced(p), 1, "given-name syllables spaced or hyphenated")
    for p in people[68:74]:
        trad = zh_traditional(p.family.original) + zh_traditional(p.given.original)
        add(whole(p), trad, 1, "simplified vs traditional characters")
    for p in people[74:80]:
        hk = f"{p.family.variants[0]} {p.given.variants[0]}"
        add(passport(p), hk, 1, "Pinyin vs Hong Kong (Cantonese) romanisation")
    # Hard negatives.
    others = [zh_person(rng) for _ in range(60)]
    n = 0
    for p in others:
        for old, new in ZH_HOMOPHONE_GIVEN:
            if old in p.given.original and n < 10:
                q = zh_swap_given(p, old, new)
                add(whole(p), whole(q), 0, "homophone given-name character")
                n += 1
                break
    for old, new in ZH_HOMOPHONE_FAMILY:
        p = zh_person(rng)
        q_family = Part(new, zh_pinyin(new))
        add(whole(Person(Part(old, zh_pinyin(old)), p.given)), whole(Person(q_family, p.given)),
            0, "homophone family name")  # fmt: skip
    n = 0
    for p in others:
        for old, new in ZH_NEAR_GIVEN:
            if old in p.given.original and n < 10:
                q = zh_swap_given(p, old, new)
                a, b = (whole(p), whole(q)) if n % 2 else (passport(p), whole(q))
                add(a, b, 0, "near-homophone given-name character")
                n += 1
                break
    for p in others[:14]:
        q = Person(p.family, zh_person(rng).given)
        while q.given.passport == p.given.passport:
            q = Person(p.family, zh_person(rng).given)
        a, b = (whole(p), whole(q)) if rng.random() < 0.5 else (passport(p), whole(q))
        add(a, b, 0, "same family name, another given name")
    for p in others[14:26]:
        q = Person(rng.choice([f for f in ZH_FAMILY if f != p.family]), p.given)
        a, b = (whole(p), whole(q)) if rng.random() < 0.5 else (passport(p), whole(q))
        add(a, b, 0, "same given name, another family name")
    for p in others[26:34]:
        if len(p.given.original) == 2:
            rev = p.given.original[::-1]
            q = Person(p.family, Part(rev, zh_pinyin(rev)))
            add(whole(p), whole(q), 0, "given-name characters in the other order")
    for p in others[34:44]:
        q = zh_person(rng)
        add(whole(p), passport(q), 0, "unrelated")
    return rows


# --- Cyrillic (Russian) ---------------------------------------------------------------------
# Common Russian surnames (frequency lists), given names with their usual English forms.
RU_FAMILY = words("""
Иванов Смирнов Кузнецов Попов Васильев Петров Соколов Михайлов Новиков Фёдоров Морозов
Волков Алексеев Лебедев Семёнов Егоров Павлов Козлов Степанов Николаев Орлов Андреев
Макаров Никитин Захаров Зайцев Соловьёв Борисов Яковлев Григорьев Романов Воробьёв
Сергеев Кузьмин Фролов Александров Дмитриев Королёв Гусев Киселёв Ильин Максимов
Поляков Сорокин Виноградов Ковалёв Белов Медведев Антонов Тарасов Жуков Баранов
Филиппов Комаров Давыдов Беляев Герасимов Богданов Осипов Сидоров Матвеев Титов
Щербаков Журавлёв Чернышёв Хохлов Шестаков Юдин Щукин
""")
RU_MALE = parts("""
Александр=Alexander/Aleksandr
Алексей=Alexey/Aleksey/Alexei
Андрей=Andrey/Andrei
Дмитрий=Dmitry/Dmitriy
Сергей=Sergey/Sergei
Иван=Ivan
Михаил=Mikhail
Николай=Nikolay/Nikolai
Владимир=Vladimir
Евгений=Evgeny/Yevgeny/Evgeniy
Максим=Maxim/Maksim
Артём=Artyom/Artem
Юрий=Yuri/Yury
Фёдор=Fyodor/Fedor
Павел=Pavel
Олег=Oleg
Виктор=Viktor/Victor
Игорь=Igor
Роман=Roman
Денис=Denis
Кирилл=Kirill
Илья=Ilya
Вячеслав=Vyacheslav
Григорий=Grigory/Grigoriy
""")
RU_FEMALE = parts("""
Анна=Anna
Мария=Maria/Mariya
Елена=Elena/Yelena
Ольга=Olga
Наталья=Natalya/Natalia
Татьяна=Tatyana/Tatiana
Ирина=Irina
Екатерина=Ekaterina/Yekaterina
Юлия=Yulia/Yuliya/Julia
Светлана=Svetlana
Анастасия=Anastasia/Anastasiya
Дарья=Darya/Daria
Ксения=Ksenia/Kseniya
Людмила=Lyudmila/Ludmila
Валентина=Valentina
Галина=Galina
Софья=Sofya/Sofia
Полина=Polina
Алёна=Alyona/Alena
Вера=Vera
""")
RU_CONFUSABLE_GIVEN = pairs("""
Александр Алексей
Юлия Юлиана
Мария Марина
Евгений Евгения
Александр Александра
Владимир Владислав
Светлана Снежана
Татьяна Тамара
Галина Полина
Виктор Виктория
Ирина Арина
Елена Алёна
Анна Жанна
Олег Ольга
Денис Дина
Кирилл Кира
Роман Руслан
Дарья Мария
""")
RU_CONFUSABLE_FAMILY = pairs("""
Петров Петренко
Кузнецов Кузьмин
Белов Беляев
Николаев Никитин
Михайлов Михеев
Фёдоров Федотов
Зайцев Зуев
Максимов Мартынов
Тарасов Тарасенко
Соколов Сорокин
Орлов Козлов
Морозов Моргунов
""")
_ICAO_RU = {
    "а": "a", "б": "b", "в": "v", "г": "g", "д": "d", "е": "e", "ё": "e", "ж": "zh",
    "з": "z", "и": "i", "й": "i", "к": "k", "л": "l", "м": "m", "н": "n", "о": "o",
    "п": "p", "р": "r", "с": "s", "т": "t", "у": "u", "ф": "f", "х": "kh", "ц": "ts",
    "ч": "ch", "ш": "sh", "щ": "shch", "ъ": "ie", "ы": "y", "ь": "", "э": "e", "ю": "iu",
    "я": "ia",
}  # fmt: skip


def ru_icao(text: str) -> str:
    """ICAO Doc 9303 (Russian passports since 2013)."""
    return "".join(_ICAO_RU.get(c, c) for c in text.lower()).upper()


def ru_english(text: str) -> str:
    """A BGN/PCGN-like English spelling, as officers and the press write Russian names."""
    vowels = "аеёиоуыэюяъь"
    out = []
    low = text.lower()
    for i, c in enumerate(low):
        prev = low[i - 1] if i else ""
        if c == "е":
            out.append("ye" if not prev or prev in vowels else "e")
        elif c == "ё":
            out.append("o" if prev in "жчшщ" else "yo")
        elif c == "й":
            out.append("" if prev == "и" and i == len(low) - 1 else "y")
        elif c == "и" and i == len(low) - 2 and low[-1] == "й":
            out.append("y")
        else:
            out.append({"ю": "yu", "я": "ya", "ъ": "", "ь": ""}.get(c, _ICAO_RU.get(c, c)))
    return "".join(out).title()


def ru_female(family: str) -> str:
    return family + "а" if family.endswith(("ов", "ев", "ёв", "ин")) else family


def ru_part(original: str) -> Part:
    return Part(original, ru_icao(original), (ru_english(original),))


def ru_person(rng: random.Random) -> Person:
    female = rng.random() < 0.45
    given = rng.choice(RU_FEMALE if female else RU_MALE)
    family = rng.choice(RU_FAMILY)
    family = ru_female(family) if female else family
    given = Part(given.original, ru_icao(given.original), given.spellings)
    return Person(ru_part(family), given)


def ru_is_female(given: str) -> bool:
    return given in {p.original for p in RU_FEMALE} or given.endswith(("а", "я"))


def ru_named(family: str, given: str) -> Person:
    """A person with ``given``, the family name in the form that goes with it."""
    family = ru_female(family) if ru_is_female(given) else family
    return Person(ru_part(family), ru_given(given))


def ru_given(original: str) -> Part:
    for part in (*RU_MALE, *RU_FEMALE):
        if part.original == original:
            return Part(original, ru_icao(original), part.spellings)
    return Part(original, ru_icao(original), (ru_english(original),))


def ru_rows(rng: random.Random) -> list[Row]:
    src = (
        "generated: common Russian surnames and given names (public frequency lists);"
        " ICAO Doc 9303 passport transliteration; usual English spellings"
    )
    rows: list[Row] = []

    def add(a: str, b: str, same: int, kind: str) -> None:
        rows.append(Row(a, b, "cyrillic", same, kind, src))

    def whole(p: Person) -> str:
        return f"{p.given.original} {p.family.original}"

    def formal(p: Person) -> str:  # Russian documents: family name first
        return f"{p.family.original} {p.given.original}"

    def passport(p: Person) -> str:
        return f"{p.family.passport}, {p.given.passport}"

    def english(p: Person) -> str:
        return f"{rng.choice(p.given.variants)} {p.family.variants[0]}"

    people = [ru_person(rng) for _ in range(80)]
    for p in people[:12]:
        add(whole(p), whole(p), 1, "same original script")
    for p in people[12:28]:
        add(f"{p.family.original}, {p.given.original}", passport(p), 1,
            "original vs passport romanisation")  # fmt: skip
    for p in people[28:42]:
        add(whole(p), english(p), 1, "original vs conventional romanisation")
    for p in people[42:52]:
        add(formal(p), whole(p), 1, "name order swapped")
    for p in people[52:58]:
        add(passport(p), f"{p.given.passport} {p.family.passport}", 1, "name order swapped")
    for p in people[58:70]:
        add(passport(p), english(p), 1, "passport vs conventional romanisation")
    n = 0
    for p in people[70:80] + [ru_person(rng) for _ in range(40)]:
        text = whole(p)
        if "ё" in text and n < 8:
            add(text, text.replace("ё", "е"), 1, "ё written as е")
            n += 1
    # Hard negatives.
    for old, new in RU_CONFUSABLE_GIVEN:
        family = rng.choice(RU_FAMILY)
        a, b = ru_named(family, old), ru_named(family, new)
        mode = rng.random()
        if mode < 0.4:
            add(whole(a), whole(b), 0, "confusable given name, same family name")
        elif mode < 0.7:
            add(passport(a), whole(b), 0, "confusable given name, same family name")
        else:
            add(passport(a), passport(b), 0, "confusable given name, same family name")
    for old, new in RU_CONFUSABLE_FAMILY:
        given = rng.choice(RU_MALE)
        a = Person(ru_part(old), ru_given(given.original))
        b = Person(ru_part(new), ru_given(given.original))
        if rng.random() < 0.5:
            add(whole(a), whole(b), 0, "confusable family name, same given name")
        else:
            add(passport(a), whole(b), 0, "confusable family name, same given name")
    for _ in range(8):  # brother and sister: Иванов Евгений / Иванова Евгения
        family = rng.choice(RU_FAMILY)
        a = Person(ru_part(family), ru_given("Евгений"))
        b = Person(ru_part(ru_female(family)), ru_given("Евгения"))
        if rng.random() < 0.5:
            a = Person(ru_part(family), ru_given("Александр"))
            b = Person(ru_part(ru_female(family)), ru_given("Александра"))
        add(whole(a), whole(b), 0, "male and female forms of one name")
    for _ in range(12):
        family = rng.choice(RU_FAMILY)
        given_a, given_b = rng.sample([*RU_MALE, *RU_FEMALE], 2)
        a, b = ru_named(family, given_a.original), ru_named(family, given_b.original)
        add(whole(a), passport(b), 0, "same family name, another given name")
    for _ in range(8):
        p, q = ru_person(rng), ru_person(rng)
        add(whole(p), whole(q), 0, "unrelated")
    return rows


# --- Arabic -------------------------------------------------------------------------------
# Common Arabic given names and family names (naming guides), with the romanisations
# passports and officers use across the Arab world (none is standard).
AR_GIVEN = parts("""
محمد=MOHAMMED/Muhammad/Mohamed/Mohammad
أحمد=AHMED/Ahmad
علي=ALI/Aly
حسن=HASSAN/Hasan
حسين=HUSSEIN/Hussain/Husayn
عمر=OMAR/Umar
خالد=KHALED/Khalid
يوسف=YOUSSEF/Yusuf/Yousef
إبراهيم=IBRAHIM/Ebrahim
مصطفى=MUSTAFA/Mostafa
محمود=MAHMOUD/Mahmud
سعيد=SAEED/Said
كريم=KARIM/Kareem
طارق=TARIQ/Tarek
فيصل=FAISAL/Faysal
ناصر=NASSER/Nasir
سامي=SAMI/Samy
ماجد=MAJED/Majid
وليد=WALID/Waleed
جمال=JAMAL/Gamal
رشيد=RASHID/Rachid
عادل=ADEL/Adil
حمزة=HAMZA/Hamzah
أسامة=OSAMA/Usama
ياسر=YASSER/Yasir
فاطمة=FATIMA/Fatimah/Fatma
عائشة=AISHA/Aicha/Aysha
مريم=MARYAM/Mariam
زينب=ZAINAB/Zeinab
نور=NOUR/Noor
ليلى=LAYLA/Leila
سارة=SARA/Sarah
هدى=HUDA/Hoda
أمل=AMAL
رانيا=RANIA
خديجة=KHADIJA/Khadijah
سلمى=SALMA
""")
AR_FAMILY = parts("""
الرشيد=AL-RASHID/Alrashid/Al Rasheed
الحسن=AL-HASSAN/Alhasan
الخطيب=AL-KHATIB/Alkhatib/El Khatib
النجار=AL-NAJJAR/Alnajjar
حداد=HADDAD
منصور=MANSOUR/Mansur
صالح=SALEH/Salih
عثمان=OTHMAN/Osman/Uthman
حمدان=HAMDAN
الشامي=AL-SHAMI/Alshami
المصري=AL-MASRI/El Masry
عباس=ABBAS
قاسم=QASIM/Kassem
الزهراني=AL-ZAHRANI/Alzahrani
الحربي=AL-HARBI/Alharbi
القحطاني=AL-QAHTANI/Alqahtani
العتيبي=AL-OTAIBI/Alotaibi
يعقوب=YACOUB/Yaqub
شريف=SHARIF/Sherif
عيسى=ISSA/Eisa
موسى=MOUSSA/Musa
عبد الله=ABDULLAH/Abdallah
عبد الرحمن=ABDULRAHMAN/Abdul Rahman/Abdelrahman
""")
AR_OTHER = parts("""
سعد=SAAD/Saad
حامد=HAMED/Hamid
مجدي=MAGDY/Majdi
سامر=SAMER
عمار=AMMAR
خليل=KHALIL
كمال=KAMAL
نصر=NASR
يونس=YOUNES/Yunus
نورة=NOURA/Nora
زينة=ZEINA/Zina
رنا=RANA
هند=HIND
الحسين=AL-HUSSEIN/Alhussein
منصوري=MANSOURI
عثماني=OTHMANI
حمدي=HAMDI
البصري=AL-BASRI
الخطابي=AL-KHATTABI
عباسي=ABBASI
قاسمي=QASIMI
""")
AR_CONFUSABLE_GIVEN = pairs("""
محمد محمود
حسن حسين
سعيد سعد
أحمد حامد
ماجد مجدي
سامي سامر
عمر عمار
خالد خليل
جمال كمال
ناصر نصر
يوسف يونس
نور نورة
زينب زينة
رانيا رنا
هدى هند
""")
AR_CONFUSABLE_FAMILY = pairs("""
الحسن الحسين
منصور منصوري
عثمان عثماني
حمدان حمدي
المصري البصري
الخطيب الخطابي
عباس عباسي
قاسم قاسمي
""")


def ar_part(original: str) -> Part:
    for part in (*AR_GIVEN, *AR_FAMILY, *AR_OTHER):
        if part.original == original:
            return part
    raise KeyError(original)


def ar_variant_spelling(text: str) -> str:
    """How the same name is often typed: hamza on alef dropped, ta marbuta as ha,
    alef maqsura as ya."""
    out = text.replace("أ", "ا").replace("إ", "ا")
    out = "".join("ه" if c == "ة" else c for c in out)
    return out.replace("ى", "ي")


def ar_rows(rng: random.Random) -> list[Row]:
    src = (
        "generated: common Arabic given and family names (naming guides), with the"
        " romanisations used on passports and by officers"
    )
    rows: list[Row] = []

    def add(a: str, b: str, same: int, kind: str) -> None:
        rows.append(Row(a, b, "arabic", same, kind, src))

    def person() -> Person:
        return Person(rng.choice(AR_FAMILY), rng.choice(AR_GIVEN))

    def whole(p: Person) -> str:
        return f"{p.given.original} {p.family.original}"

    def passport(p: Person) -> str:
        return f"{p.family.passport}, {p.given.passport}"

    def latin(p: Person) -> str:
        return f"{rng.choice(p.given.spellings).title()} {rng.choice(p.family.spellings).title()}"

    people = [person() for _ in range(80)]
    for p in people[:12]:
        add(whole(p), whole(p), 1, "same original script")
    for p in people[12:22]:
        add(f"{p.family.original}, {p.given.original}", whole(p), 1,
            "same original script, split and whole")  # fmt: skip
    for p in people[22:34]:
        add(whole(p), passport(p), 1, "original vs passport romanisation")
    for p in people[34:42]:
        add(whole(p), latin(p), 1, "original vs conventional romanisation")
    for p in people[42:50]:
        add(f"{p.family.original} {p.given.original}", whole(p), 1, "name order swapped")
    for p in people[50:64]:
        add(passport(p), latin(p), 1, "romanisation variants")
    n = 0
    for p in people[64:80] + [person() for _ in range(60)]:
        text = whole(p)
        if ar_variant_spelling(text) != text and n < 12:
            add(text, ar_variant_spelling(text), 1, "hamza, ta marbuta or alef maqsura")
            n += 1
    # Hard negatives.
    for old, new in AR_CONFUSABLE_GIVEN:
        family = rng.choice(AR_FAMILY)
        a, b = Person(family, ar_part(old)), Person(family, ar_part(new))
        mode = rng.random()
        if mode < 0.4:
            add(whole(a), whole(b), 0, "confusable given name, same family name")
        elif mode < 0.7:
            add(passport(a), whole(b), 0, "confusable given name, same family name")
        else:
            add(passport(a), latin(b), 0, "confusable given name, same family name")
    for old, new in AR_CONFUSABLE_FAMILY:
        given = rng.choice(AR_GIVEN)
        a, b = Person(ar_part(old), given), Person(ar_part(new), given)
        if rng.random() < 0.5:
            add(whole(a), whole(b), 0, "confusable family name, same given name")
        else:
            add(passport(a), latin(b), 0, "confusable family name, same given name")
    for _ in range(12):
        family = rng.choice(AR_FAMILY)
        given_a, given_b = rng.sample(AR_GIVEN, 2)
        p, q = Person(family, given_a), Person(family, given_b)
        add(whole(p), whole(q) if rng.random() < 0.5 else passport(q), 0,
            "same family name, another given name")  # fmt: skip
    for _ in range(10):
        given = rng.choice(AR_GIVEN)
        family_a, family_b = rng.sample(AR_FAMILY, 2)
        p, q = Person(family_a, given), Person(family_b, given)
        add(whole(p), whole(q) if rng.random() < 0.5 else passport(q), 0,
            "same given name, another family name")  # fmt: skip
    for _ in range(8):
        p, q = person(), person()
        add(whole(p), whole(q), 0, "unrelated")
    return rows


# --- Devanagari (Hindi) -----------------------------------------------------------------------
# Common Hindi given names and family names (naming guides), with the spellings Indian
# passports use and their usual variants.
HI_GIVEN = parts("""
राजेश=RAJESH
रमेश=RAMESH
सुरेश=SURESH
महेश=MAHESH
दिनेश=DINESH
नरेश=NARESH
अमित=AMIT
सुमित=SUMIT
विजय=VIJAY
अजय=AJAY
संजय=SANJAY/Sanjai
राहुल=RAHUL
रोहित=ROHIT
मोहित=MOHIT
मनोज=MANOJ
दीपक=DEEPAK/Dipak
अनिल=ANIL
सुनील=SUNIL/Suneel
प्रकाश=PRAKASH
विकास=VIKAS/Vikash
आकाश=AKASH/Aakash
अर्जुन=ARJUN
गणेश=GANESH
रवि=RAVI
सचिन=SACHIN
अशोक=ASHOK
विनोद=VINOD
प्रमोद=PRAMOD
प्रिया=PRIYA
पूजा=POOJA/Puja
नेहा=NEHA
अंजलि=ANJALI/Anjli
सुनीता=SUNITA/Sunitha
अनीता=ANITA/Aneeta
कविता=KAVITA/Kavitha
सविता=SAVITA
सरिता=SARITA
सीमा=SEEMA/Sima
रेखा=REKHA
लक्ष्मी=LAKSHMI/Laxmi
आरती=AARTI/Arti
मीना=MEENA/Mina
गीता=GEETA/Gita
रीता=RITA/Reeta
नीता=NEETA/Nita
ज्योति=JYOTI/Jyothi
ममता=MAMTA/Mamata
दिव्या=DIVYA
स्वाति=SWATI
""")
HI_FAMILY = parts("""
शर्मा=SHARMA
वर्मा=VERMA/Varma
गुप्ता=GUPTA
सिंह=SINGH
कुमार=KUMAR
यादव=YADAV
पटेल=PATEL
जैन=JAIN
मिश्रा=MISHRA
तिवारी=TIWARI/Tiwary
पांडे=PANDEY/Pande
चौहान=CHAUHAN
अग्रवाल=AGARWAL/Aggarwal
श्रीवास्तव=SRIVASTAVA/Shrivastava
दुबे=DUBEY/Dube
ठाकुर=THAKUR
जोशी=JOSHI
मेहता=MEHTA
शुक्ला=SHUKLA
त्रिपाठी=TRIPATHI
चौधरी=CHAUDHARY/Choudhary
सक्सेना=SAXENA
कपूर=KAPOOR/Kapur
मल्होत्रा=MALHOTRA
खन्ना=KHANNA
रेड्डी=REDDY
नायर=NAIR
राव=RAO
भट्ट=BHATT/Bhat
""")
HI_OTHER = parts("""
मेहरा=MEHRA
मित्रा=MITRA
राय=RAI
सिन्हा=SINHA
""")
HI_CONFUSABLE_GIVEN = pairs("""
राजेश रमेश
सुरेश महेश
महेश दिनेश
नरेश सुरेश
अमित सुमित
अजय विजय
संजय अजय
रोहित मोहित
सुनील अनिल
प्रकाश आकाश
विकास आकाश
विनोद प्रमोद
अनीता सुनीता
कविता सविता
सरिता सविता
सीमा मीना
गीता रीता
नीता रीता
""")
HI_CONFUSABLE_FAMILY = pairs("""
शर्मा वर्मा
चौहान चौधरी
तिवारी त्रिपाठी
मेहता मेहरा
मिश्रा मित्रा
राव राय
सिंह सिन्हा
""")
# The same name spelt two ways in Devanagari: anusvara or a nasal conjunct, chandrabindu.
HI_SPELLINGS = pairs("""
संजय सञ्जय
अंजलि अञ्जलि
पांडे पाँडे
चंद्र चन्द्र
""")
HI_EXTRA = parts("""
सञ्जय=SANJAY
अञ्जलि=ANJALI
पाँडे=PANDEY
चंद्र=CHANDRA
चन्द्र=CHANDRA
ज़ाकिर=ZAKIR
जाकिर=ZAKIR
ख़ान=KHAN
खान=KHAN
""")


def hi_part(original: str) -> Part:
    for part in (*HI_GIVEN, *HI_FAMILY, *HI_OTHER, *HI_EXTRA):
        if part.original == original:
            return part
    raise KeyError(original)


def hi_rows(rng: random.Random) -> list[Row]:
    src = (
        "generated: common Hindi given and family names (naming guides), with Indian"
        " passport spellings and their usual variants"
    )
    rows: list[Row] = []

    def add(a: str, b: str, same: int, kind: str) -> None:
        rows.append(Row(a, b, "devanagari", same, kind, src))

    def person() -> Person:
        return Person(rng.choice(HI_FAMILY), rng.choice(HI_GIVEN))

    def whole(p: Person) -> str:
        return f"{p.given.original} {p.family.original}"

    def passport(p: Person) -> str:
        return f"{p.family.passport}, {p.given.passport}"

    def latin(p: Person) -> str:
        return f"{rng.choice(p.given.spellings).title()} {rng.choice(p.family.spellings).title()}"

    people = [person() for _ in range(80)]
    for p in people[:12]:
        add(whole(p), whole(p), 1, "same original script")
    for p in people[12:20]:
        add(f"{p.family.original}, {p.given.original}", whole(p), 1,
            "same original script, split and whole")  # fmt: skip
    for p in people[20:40]:
        add(whole(p), passport(p), 1, "original vs passport romanisation")
    for p in people[40:48]:
        add(whole(p), latin(p), 1, "original vs conventional romanisation")
    for p in people[48:56]:
        add(f"{p.family.original} {p.given.original}", whole(p), 1, "name order swapped")
    for p in people[56:64]:
        add(passport(p), f"{p.family.passport.title()} {p.given.passport.title()}", 1,
            "name order swapped")  # fmt: skip
    for p in people[64:76]:
        add(passport(p), latin(p), 1, "romanisation variants")
    for a, b in HI_SPELLINGS:
        family = rng.choice(HI_FAMILY).original
        add(f"{a} {family}", f"{b} {family}", 1, "anusvara, nasal conjunct or chandrabindu")
    for a, b in (("ज़ाकिर ख़ान", "जाकिर खान"), ("ज़ाकिर ख़ान", "ZAKIR KHAN")):
        add(a, b, 1, "nukta written or not")
    # Hard negatives.
    for old, new in HI_CONFUSABLE_GIVEN:
        family = rng.choice(HI_FAMILY)
        a, b = Person(family, hi_part(old)), Person(family, hi_part(new))
        mode = rng.random()
        if mode < 0.4:
            add(whole(a), whole(b), 0, "confusable given name, same family name")
        elif mode < 0.7:
            add(passport(a), whole(b), 0, "confusable given name, same family name")
        else:
            add(passport(a), latin(b), 0, "confusable given name, same family name")
    for old, new in HI_CONFUSABLE_FAMILY:
        given = rng.choice(HI_GIVEN)
        a, b = Person(hi_part(old), given), Person(hi_part(new), given)
        if rng.random() < 0.5:
            add(whole(a), whole(b), 0, "confusable family name, same given name")
        else:
            add(passport(a), whole(b), 0, "confusable family name, same given name")
    for _ in range(14):
        family = rng.choice(HI_FAMILY)
        given_a, given_b = rng.sample(HI_GIVEN, 2)
        p, q = Person(family, given_a), Person(family, given_b)
        add(whole(p), whole(q) if rng.random() < 0.5 else passport(q), 0,
            "same family name, another given name")  # fmt: skip
    for _ in range(10):
        given = rng.choice(HI_GIVEN)
        family_a, family_b = rng.sample(HI_FAMILY, 2)
        p, q = Person(family_a, given), Person(family_b, given)
        add(whole(p), whole(q) if rng.random() < 0.5 else passport(q), 0,
            "same given name, another family name")  # fmt: skip
    for _ in range(8):
        p, q = person(), person()
        add(whole(p), whole(q), 0, "unrelated")
    return rows


# --- Latin with diacritics ----------------------------------------------------------------
# Common names of languages written with diacritics (naming guides), each person with
# the spellings travel documents and keyboards give: ICAO Doc 9303's multinational
# table (MÜLLER→MUELLER, Ø→OE, ß→SS, Þ→TH), diacritics simply dropped, and national
# conventions (Đ→DJ).
LATIN_PEOPLE = [
    # (family, given, ICAO family, ICAO given, other spellings "family|given" ...)
    ("Müller", "Jürgen", "MUELLER", "JUERGEN", "Muller|Jurgen"),
    ("Schröder", "Björn", "SCHROEDER", "BJOERN", "Schroder|Bjorn"),
    ("Weiß", "Günther", "WEISS", "GUENTHER", "Weiss|Gunther"),
    ("Köhler", "Käthe", "KOEHLER", "KAETHE", "Kohler|Kathe"),
    ("Krüger", "Jörg", "KRUEGER", "JOERG", "Kruger|Jorg"),
    ("Strauß", "Uwe", "STRAUSS", "UWE", "Strauss|Uwe"),
    ("Bäcker", "Hans-Jürgen", "BAECKER", "HANS JUERGEN", "Backer|Hans Jurgen"),
    ("Sørensen", "Søren", "SOERENSEN", "SOEREN", "Sorensen|Soren"),
    ("Åström", "Åsa", "AASTROEM", "AASA", "Astrom|Asa"),
    ("Løvås", "Bjørn", "LOEVAAS", "BJOERN", "Lovas|Bjorn"),
    ("Nygård", "Håkon", "NYGAARD", "HAAKON", "Nygard|Hakon"),
    ("Þórðarson", "Guðmundur", "THORDARSON", "GUDMUNDUR", "Thordarson|Gudmundur"),
    ("Sigurðardóttir", "Þórunn", "SIGURDARDOTTIR", "THORUNN", "Sigurdardottir|Thorunn"),
    ("Wałęsa", "Łukasz", "WALESA", "LUKASZ", "Walesa|Lukasz"),
    ("Wójcik", "Paweł", "WOJCIK", "PAWEL", "Wojcik|Pawel"),
    ("Kowalczyk", "Małgorzata", "KOWALCZYK", "MALGORZATA", "Kowalczyk|Malgorzata"),
    ("Dąbrowski", "Michał", "DABROWSKI", "MICHAL", "Dabrowski|Michal"),
    ("Dvořák", "Jiří", "DVORAK", "JIRI", "Dvorak|Jiri"),
    ("Čapek", "Růžena", "CAPEK", "RUZENA", "Capek|Ruzena"),
    ("Đorđević", "Đorđe", "DORDEVIC", "DORDE", "Djordjevic|Djordje"),
    ("Jovanović", "Miloš", "JOVANOVIC", "MILOS", "Jovanovic|Milos"),
    ("Kovačević", "Dražen", "KOVACEVIC", "DRAZEN", "Kovacevic|Drazen"),
    ("Gündoğan", "İlkay", "GUENDOGAN", "ILKAY", "Gundogan|Ilkay"),
    ("Şahin", "Ayşe", "SAHIN", "AYSE", "Sahin|Ayse"),
    ("Çelik", "Mehmet", "CELIK", "MEHMET", "Celik|Mehmet"),
    ("Yıldız", "Özlem", "YILDIZ", "OEZLEM", "Yildiz|Ozlem"),
    ("Öztürk", "Barış", "OEZTUERK", "BARIS", "Ozturk|Baris"),
    ("Nguyễn", "Văn Đức", "NGUYEN", "VAN DUC", "Nguyen|Van Duc"),
    ("Trần", "Thị Hương", "TRAN", "THI HUONG", "Tran|Thi Huong"),
    ("Phạm", "Minh Tuấn", "PHAM", "MINH TUAN", "Pham|Minh Tuan"),
    ("Lê", "Thị Thảo", "LE", "THI THAO", "Le|Thi Thao"),
    ("Hoàng", "Đình Nam", "HOANG", "DINH NAM", "Hoang|Dinh Nam"),
    ("Đặng", "Quốc Bảo", "DANG", "QUOC BAO", "Dang|Quoc Bao"),
    ("Vũ", "Thanh Hà", "VU", "THANH HA", "Vu|Thanh Ha"),
    ("Muñoz", "José", "MUNOZ", "JOSE", "Munoz|Jose"),
    ("Núñez", "María José", "NUNEZ", "MARIA JOSE", "Nunez|Maria Jose"),
    ("Peña", "Iñaki", "PENA", "INAKI", "Pena|Inaki"),
    ("Ibáñez", "Begoña", "IBANEZ", "BEGONA", "Ibanez|Begona"),
    ("Gonçalves", "João", "GONCALVES", "JOAO", "Goncalves|Joao"),
    ("Conceição", "Inês", "CONCEICAO", "INES", "Conceicao|Ines"),
    ("Lefèvre", "François", "LEFEVRE", "FRANCOIS", "Lefevre|Francois"),
    ("Béranger", "Hélène", "BERANGER", "HELENE", "Beranger|Helene"),
    ("Noël", "Gaël", "NOEL", "GAEL", "Noel|Gael"),
    ("Ștefănescu", "Ștefan", "STEFANESCU", "STEFAN", "Stefanescu|Stefan"),
    ("Szőke", "Erzsébet", "SZOKE", "ERZSEBET", "Szoke|Erzsebet"),
    ("Tūpou", "Sione", "TUPOU", "SIONE", "Tupou|Sione"),
    ("Tāmihana", "Wiremu", "TAMIHANA", "WIREMU", "Tamihana|Wiremu"),
    ("Kaʻili", "ʻAna", "KAILI", "ANA", "Kaili|Ana"),
    ("Saʻilele", "Fetū", "SAILELE", "FETU", "Sailele|Fetu"),
    ("Ngāta", "Āperahama", "NGATA", "APERAHAMA", "Ngata|Aperahama"),
]
LATIN_CONFUSABLE = [
    # (family a, given a, family b, given b): two people, close names
    ("Müller", "Jürgen", "Möller", "Jürgen"),
    ("Müller", "Jürgen", "Müller", "Jörgen"),
    ("Schröder", "Björn", "Schröter", "Björn"),
    ("Weiß", "Günther", "Weise", "Günther"),
    ("Krüger", "Jörg", "Kröger", "Jörg"),
    ("Sørensen", "Søren", "Sørensen", "Sören"),
    ("Nygård", "Håkon", "Nygård", "Haakon"),
    ("Wójcik", "Paweł", "Wójtowicz", "Paweł"),
    ("Kowalczyk", "Małgorzata", "Kowalski", "Małgorzata"),
    ("Dvořák", "Jiří", "Dvorský", "Jiří"),
    ("Nováková", "Tereza", "Novák", "Tereza"),
    ("Jovanović", "Miloš", "Jovanović", "Milan"),
    ("Đorđević", "Đorđe", "Đurđević", "Đorđe"),
    ("Nguyễn", "Văn Đức", "Nguyễn", "Văn Dũng"),
    ("Trần", "Thị Hương", "Trần", "Thị Hằng"),
    ("Phạm", "Minh Tuấn", "Phạm", "Minh Tâm"),
    ("Lê", "Thị Thảo", "Lê", "Thị Thủy"),
    ("Muñoz", "José", "Muñiz", "José"),
    ("Muñoz", "José", "Muñoz", "Josefa"),
    ("Núñez", "María José", "Núñez", "María Josefa"),
    ("Gonçalves", "João", "Gonçalves", "Joana"),
    ("Lefèvre", "François", "Lefèvre", "Françoise"),
    ("Noël", "Gaël", "Noël", "Gaëlle"),
    ("Şahin", "Ayşe", "Şahin", "Aysel"),
    ("Çelik", "Mehmet", "Çelik", "Mahmut"),
    ("Yıldız", "Özlem", "Yıldız", "Özge"),
    ("Tūpou", "Sione", "Tūpou", "Siosaia"),
    ("Kaʻili", "ʻAna", "Kaʻili", "ʻAna Lose"),
    ("Ștefănescu", "Ștefan", "Ștefănescu", "Ștefania"),
    ("Béranger", "Hélène", "Bélanger", "Hélène"),
]


def latin_rows(rng: random.Random) -> list[Row]:
    src = (
        "generated: common names of languages written with diacritics (naming guides);"
        " ICAO Doc 9303 multinational table; diacritics dropped; national conventions"
    )
    rows: list[Row] = []

    def add(a: str, b: str, same: int, kind: str) -> None:
        rows.append(Row(a, b, "latin-diacritics", same, kind, src))

    for family, given, icao_f, icao_g, other in LATIN_PEOPLE:
        plain_f, plain_g = other.split("|")
        native = f"{family}, {given}"
        add(native, f"{icao_f}, {icao_g}", 1, "diacritics vs ICAO passport transliteration")
        mode = rng.random()
        if mode < 0.5:
            add(native, f"{plain_g} {plain_f}", 1, "diacritics vs diacritics dropped")
        elif mode < 0.8:
            add(f"{given} {family}", f"{family} {given}", 1, "name order swapped")
        else:
            add(native, f"{given} {family}", 1, "same name, split and whole")
    for family_a, given_a, family_b, given_b in LATIN_CONFUSABLE:
        a, b = f"{family_a}, {given_a}", f"{given_b} {family_b}"
        add(a, b, 0, "close name of another person")
    people = list(LATIN_PEOPLE)
    for _ in range(20):
        p, q = rng.sample(people, 2)
        add(f"{p[0]}, {p[1]}", f"{q[1]} {q[0]}", 0, "unrelated")
    return rows


# --- all ----------------------------------------------------------------------------------

MAKERS: Sequence[Callable[[random.Random], list[Row]]] = (
    latin_rows,
    zh_rows,
    ar_rows,
    ru_rows,
    hi_rows,
)


def build() -> list[Row]:
    rows: list[Row] = []
    for make in MAKERS:
        rows.extend(make(random.Random(f"{SEED}-{make.__name__}")))
    seen: set[tuple[str, str]] = set()
    unique = []
    for row in rows:
        if (row.name_a, row.name_b) not in seen:
            seen.add((row.name_a, row.name_b))
            unique.append(row)
    return unique


def main() -> None:
    rows = build()
    with OUT.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(["name_a", "name_b", "script", "same_person", "kind", "source"])
        for r in rows:
            writer.writerow([r.name_a, r.name_b, r.script, r.same_person, r.kind, r.source])
    print(f"wrote {len(rows)} pairs to {OUT}")


if __name__ == "__main__":
    main()
