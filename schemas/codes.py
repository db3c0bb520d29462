"""Country and location codes used on the wire, and pydantic types that enforce them.

The tables are written out here (not taken from a third-party package) so that the wire
contract cannot change under us when a dependency is upgraded: every member must accept
exactly what every other sends, whatever version of a library each has installed, and
the JSON Schema enums in ``schemas/json`` are generated from these tables. ISO 3166-1 as
officially assigned; user-assigned codes such as ``XK`` (Kosovo) are not included —
ICAO's ``RKS`` covers Kosovo travel documents. ``tests/unit/test_code_tables.py``
compares the ISO table with ``pycountry``'s (a development dependency), so a change to
ISO 3166 shows up as a failing test, not as a silent change of the contract.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, StringConstraints, ValidationInfo, WithJsonSchema

from schemas.base import icao_specimens_allowed

__all__ = [
    "ALPHA2_TO_ALPHA3",
    "ICAO_NATIONALITY",
    "ICAO_SPECIAL_CODES",
    "ICAO_SPECIMEN_CODE",
    "ISO3166_ALPHA2",
    "ISO3166_ALPHA3",
    "CountryCode2",
    "CountryCode3",
    "UnLocode",
    "is_icao_code",
]

# Officially assigned ISO 3166-1 codes as "alpha-2 alpha-3" pairs (249 entries).
_ISO3166_TABLE = """
AD AND AE ARE AF AFG AG ATG AI AIA AL ALB AM ARM AO AGO AQ ATA AR ARG AS ASM AT AUT
AU AUS AW ABW AX ALA AZ AZE BA BIH BB BRB BD BGD BE BEL BF BFA BG BGR BH BHR BI BDI
BJ BEN BL BLM BM BMU BN BRN BO BOL BQ BES BR BRA BS BHS BT BTN BV BVT BW BWA BY BLR
BZ BLZ CA CAN CC CCK CD COD CF CAF CG COG CH CHE CI CIV CK COK CL CHL CM CMR CN CHN
CO COL CR CRI CU CUB CV CPV CW CUW CX CXR CY CYP CZ CZE DE DEU DJ DJI DK DNK DM DMA
DO DOM DZ DZA EC ECU EE EST EG EGY EH ESH ER ERI ES ESP ET ETH FI FIN FJ FJI FK FLK
FM FSM FO FRO FR FRA GA GAB GB GBR GD GRD GE GEO GF GUF GG GGY GH GHA GI GIB GL GRL
GM GMB GN GIN GP GLP GQ GNQ GR GRC GS SGS GT GTM GU GUM GW GNB GY GUY HK HKG HM HMD
HN HND HR HRV HT HTI HU HUN ID IDN IE IRL IL ISR IM IMN IN IND IO IOT IQ IRQ IR IRN
IS ISL IT ITA JE JEY JM JAM JO JOR JP JPN KE KEN KG KGZ KH KHM KI KIR KM COM KN KNA
KP PRK KR KOR KW KWT KY CYM KZ KAZ LA LAO LB LBN LC LCA LI LIE LK LKA LR LBR LS LSO
LT LTU LU LUX LV LVA LY LBY MA MAR MC MCO MD MDA ME MNE MF MAF MG MDG MH MHL MK MKD
ML MLI MM MMR MN MNG MO MAC MP MNP MQ MTQ MR MRT MS MSR MT MLT MU MUS MV MDV MW MWI
MX MEX MY MYS MZ MOZ NA NAM NC NCL NE NER NF NFK NG NGA NI NIC NL NLD NO NOR NP NPL
NR NRU NU NIU NZ NZL OM OMN PA PAN PE PER PF PYF PG PNG PH PHL PK PAK PL POL PM SPM
PN PCN PR PRI PS PSE PT PRT PW PLW PY PRY QA QAT RE REU RO ROU RS SRB RU RUS RW RWA
SA SAU SB SLB SC SYC SD SDN SE SWE SG SGP SH SHN SI SVN SJ SJM SK SVK SL SLE SM SMR
SN SEN SO SOM SR SUR SS SSD ST STP SV SLV SX SXM SY SYR SZ SWZ TC TCA TD TCD TF ATF
TG TGO TH THA TJ TJK TK TKL TL TLS TM TKM TN TUN TO TON TR TUR TT TTO TV TUV TW TWN
TZ TZA UA UKR UG UGA UM UMI US USA UY URY UZ UZB VA VAT VC VCT VE VEN VG VGB VI VIR
VN VNM VU VUT WF WLF WS WSM YE YEM YT MYT ZA ZAF ZM ZMB ZW ZWE
"""
_ISO3166_PAIRS = _ISO3166_TABLE.split()

ALPHA2_TO_ALPHA3: dict[str, str] = dict(
    zip(_ISO3166_PAIRS[0::2], _ISO3166_PAIRS[1::2], strict=True)
)
ISO3166_ALPHA2: frozenset[str] = frozenset(ALPHA2_TO_ALPHA3)
ISO3166_ALPHA3: frozenset[str] = frozenset(ALPHA2_TO_ALPHA3.values())

# ICAO Doc 9303, *Machine Readable Travel Documents*, 8th edition (2021), Part 3
# "Specifications Common to all MRTDs", section 5 "Codes for nationality, place of birth,
# location of issuing State/authority": the ISO 3166-1 alpha-3 codes plus these, for
# Germany, the British nationality categories, Kosovo, the EU, the United Nations, the
# international organisations that issue travel documents, and persons without a
# nationality. Cross-checked on 2026-12-05 against the UK Home Office design system's
# transcription of the same section. One table serves nationality and issuing state, as
# in Doc 9303.
ICAO_SPECIAL_CODES: frozenset[str] = frozenset(
    {
        "D",  # Germany
        "EUE",  # European Union
        "GBD",  # British Overseas Territories citizen
        "GBN",  # British National (Overseas)
        "GBO",  # British Overseas citizen
        "GBP",  # British protected person
        "GBS",  # British subject
        "RKS",  # Kosovo
        "UNA",  # specialized agency of the United Nations
        "UNK",  # resident of Kosovo, document issued by UNMIK
        "UNO",  # United Nations Organization
        "XBA",  # African Development Bank
        "XCC",  # Caribbean Community (CARICOM)
        "XCE",  # Council of Europe
        "XCO",  # Common Market for Eastern and Southern Africa (COMESA)
        "XDC",  # Southern African Development Community (SADC)
        "XEC",  # Economic Community of West African States (ECOWAS)
        "XES",  # Organisation of Eastern Caribbean States (OECS)
        "XIM",  # African Export-Import Bank (Afreximbank)
        "XMP",  # Parliamentary Assembly of the Mediterranean
        "XOM",  # Sovereign Military Order of Malta
        "XPO",  # International Criminal Police Organization (INTERPOL)
        "XXA",  # stateless person (1954 Convention)
        "XXB",  # refugee (1951 Convention)
        "XXC",  # refugee, other than XXB
        "XXX",  # person of unspecified nationality
    }
)
ICAO_SPECIMEN_CODE = "UTO"
"""Utopia, the fictional state of ICAO's specimen documents: accepted only when the
validation context sets ``icao_specimens`` (``schemas.base.ValidationContext``)."""
ICAO_NATIONALITY: frozenset[str] = ISO3166_ALPHA3 | ICAO_SPECIAL_CODES

_UNLOCODE_RE = re.compile(r"^([A-Z]{2}) ?([A-Z2-9]{3})$")


def _check_alpha2(value: str) -> str:
    if value not in ISO3166_ALPHA2:
        raise ValueError("not an assigned ISO 3166-1 alpha-2 country code")
    return value


def is_icao_code(code: str, *, specimens: bool = False) -> bool:
    """True for an ISO 3166-1 alpha-3 code or an ICAO 9303 code (``"WSM"``, ``"D"``,
    ``"XXA"``); ``UTO`` only with ``specimens``."""
    return code in ICAO_NATIONALITY or (specimens and code == ICAO_SPECIMEN_CODE)


def _check_nationality(value: str, info: ValidationInfo) -> str:
    if not is_icao_code(value, specimens=icao_specimens_allowed(info)):
        raise ValueError("not an ISO 3166-1 alpha-3 country code or ICAO 9303 code")
    return value


def _normalise_unlocode(value: str) -> str:
    match = _UNLOCODE_RE.match(value)
    if match is None:  # pragma: no cover - the pattern constraint runs first
        raise ValueError("not a UN/LOCODE")
    country, place = match.groups()
    if country not in ISO3166_ALPHA2:
        raise ValueError("UN/LOCODE country part is not an assigned ISO 3166-1 alpha-2 code")
    return country + place


CountryCode2 = Annotated[
    str,
    StringConstraints(min_length=2, max_length=2, pattern=r"^[A-Z]{2}$"),
    AfterValidator(_check_alpha2),
    WithJsonSchema(
        {
            "type": "string",
            "enum": sorted(ISO3166_ALPHA2),
            "description": "ISO 3166-1 alpha-2 country code (uppercase)",
        }
    ),
]
"""An officially assigned ISO 3166-1 alpha-2 code, uppercase (``"FJ"``)."""

CountryCode3 = Annotated[
    str,
    StringConstraints(min_length=1, max_length=3, pattern=r"^(D|[A-Z]{3})$"),
    AfterValidator(_check_nationality),
    WithJsonSchema(
        {
            "type": "string",
            "enum": sorted(ICAO_NATIONALITY),
            "description": "ISO 3166-1 alpha-3 code or ICAO 9303 nationality code",
        }
    ),
]
"""An ISO 3166-1 alpha-3 code or an ICAO 9303 special code (``"WSM"``, ``"XXA"``, ``"D"``)."""

UnLocode = Annotated[
    str,
    StringConstraints(min_length=5, max_length=6, pattern=_UNLOCODE_RE.pattern),
    AfterValidator(_normalise_unlocode),
    WithJsonSchema(
        {
            "type": "string",
            "minLength": 5,
            "maxLength": 6,
            "pattern": _UNLOCODE_RE.pattern,
            "description": (
                "UN/LOCODE: ISO 3166-1 alpha-2 country code and 3 characters [A-Z2-9]; "
                "the spaced form 'FJ SUV' is accepted and normalised to 'FJSUV'"
            ),
        }
    ),
]
"""A UN/LOCODE such as ``"FJSUV"`` (Suva); ``"FJ SUV"`` is normalised to ``"FJSUV"``."""
