"""The reference tables the contract checks against, held to their sources: ISO 3166-1
(as ``pycountry`` ships it), ICAO Doc 9303 Part 3 section 5, the ITU MID table."""

from __future__ import annotations

import pycountry
import pytest

from schemas.codes import (
    ALPHA2_TO_ALPHA3,
    ICAO_NATIONALITY,
    ICAO_SPECIAL_CODES,
    ICAO_SPECIMEN_CODE,
    ISO3166_ALPHA2,
    ISO3166_ALPHA3,
)


def test_iso_table_is_pycountrys() -> None:
    # The table is ours so that the contract cannot move with a dependency; when ISO
    # 3166 changes (and pycountry with it), this fails and the table is updated on
    # purpose, with the JSON Schema regenerated.
    assert {c.alpha_2: c.alpha_3 for c in pycountry.countries} == ALPHA2_TO_ALPHA3


def test_icao_codes_are_doc_9303_part_3_section_5() -> None:
    doc_9303 = {
        "D", "EUE", "GBD", "GBN", "GBO", "GBP", "GBS", "RKS", "UNA", "UNK", "UNO",
        "XBA", "XCC", "XCE", "XCO", "XDC", "XEC", "XES", "XIM", "XMP", "XOM", "XPO",
        "XXA", "XXB", "XXC", "XXX",
    }  # fmt: skip
    assert doc_9303 == ICAO_SPECIAL_CODES
    assert not ICAO_SPECIAL_CODES & ISO3166_ALPHA3
    assert ICAO_NATIONALITY == ISO3166_ALPHA3 | ICAO_SPECIAL_CODES
    assert ICAO_SPECIMEN_CODE == "UTO" and ICAO_SPECIMEN_CODE not in ICAO_NATIONALITY


def test_mid_table_is_well_formed() -> None:
    from schemas.data.itu_mid import MID_ALLOCATIONS

    assert len(MID_ALLOCATIONS) == 292
    for mid, allocation in MID_ALLOCATIONS.items():
        assert allocation.mid == mid and len(mid) == 3 and mid.isdigit()
        assert 201 <= int(mid) <= 775, mid
        assert allocation.flags and allocation.flags <= ISO3166_ALPHA2, mid
        assert allocation.name


@pytest.mark.parametrize(
    ("flag", "mids"),
    [
        ("FJ", {"520"}), ("WS", {"561"}), ("TO", {"570"}), ("VU", {"576", "577"}),
        ("SB", {"557"}), ("PG", {"553"}), ("KI", {"529"}), ("TV", {"572"}),
        ("NR", {"544"}), ("CK", {"518"}), ("NU", {"542"}), ("FM", {"510"}),
        ("MH", {"538"}), ("PW", {"511"}), ("NC", {"540"}), ("PF", {"546"}),
        ("WF", {"578"}), ("AS", {"559"}), ("AU", {"503", "516", "523"}),
        ("NZ", {"512", "518", "542"}),
        ("PA", {str(m) for m in (*range(351, 358), *range(370, 375))}),
    ],
)  # fmt: skip
def test_mids_of_the_region_and_the_big_registries(flag: str, mids: set[str]) -> None:
    from schemas.data.itu_mid import MID_ALLOCATIONS

    assert {mid for mid, a in MID_ALLOCATIONS.items() if flag in a.flags} == mids
