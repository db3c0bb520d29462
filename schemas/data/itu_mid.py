"""ITU Maritime Identification Digits (MID): which administration each MID belongs to.

Source: ITU Radiocommunication Bureau, *Table of Maritime Identification Digits*
(MARS, https://www.itu.int/en/ITU-R/terrestrial/fmd/Pages/mid.aspx), the allocations of
ITU Radio Regulations Appendix 42 that Recommendation ITU-R M.585-9 (05/2022) builds
maritime mobile service identities on. Transcribed for Lali on 2026-12-05 and
checked MID by MID against a public transcription of that page dated 2023-09-04; no
allocation is known to have changed since. No PyPI package maintains this table (the
MMSI helpers there carry private copies), so it is kept here. ITU announces a new MID in
its Operational Bulletin: add the row then; an MMSI with an unlisted MID is refused.

Columns: the MID; the ISO 3166-1 alpha-2 codes whose flag agrees with it (first the
area the MID is allocated for, then the administration when that is another country:
Cook Islands ships fly their own flag, New Zealand is the administration); the area's
name. A territory without an ISO code of its own (Azores, Alaska) lists its country's.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["MID_ALLOCATIONS", "MidAllocation"]

_TABLE = """
201 AL        Albania
202 AD        Andorra
203 AT        Austria
204 PT        Portugal - Azores
205 BE        Belgium
206 BY        Belarus
207 BG        Bulgaria
208 VA        Vatican City State
209 CY        Cyprus
210 CY        Cyprus
211 DE        Germany
212 CY        Cyprus
213 GE        Georgia
214 MD        Moldova
215 MT        Malta
216 AM        Armenia
218 DE        Germany
219 DK        Denmark
220 DK        Denmark
224 ES        Spain
225 ES        Spain
226 FR        France
227 FR        France
228 FR        France
229 MT        Malta
230 FI        Finland
231 FO,DK     Denmark - Faroe Islands
232 GB        United Kingdom
233 GB        United Kingdom
234 GB        United Kingdom
235 GB        United Kingdom
236 GI,GB     United Kingdom - Gibraltar
237 GR        Greece
238 HR        Croatia
239 GR        Greece
240 GR        Greece
241 GR        Greece
242 MA        Morocco
243 HU        Hungary
244 NL        Netherlands
245 NL        Netherlands
246 NL        Netherlands
247 IT        Italy
248 MT        Malta
249 MT        Malta
250 IE        Ireland
251 IS        Iceland
252 LI        Liechtenstein
253 LU        Luxembourg
254 MC        Monaco
255 PT        Portugal - Madeira
256 MT        Malta
257 NO        Norway
258 NO        Norway
259 NO        Norway
261 PL        Poland
262 ME        Montenegro
263 PT        Portugal
264 RO        Romania
265 SE        Sweden
266 SE        Sweden
267 SK        Slovakia
268 SM        San Marino
269 CH        Switzerland
270 CZ        Czech Republic
271 TR        Türkiye
272 UA        Ukraine
273 RU        Russian Federation
274 MK        North Macedonia
275 LV        Latvia
276 EE        Estonia
277 LT        Lithuania
278 SI        Slovenia
279 RS        Serbia
301 AI,GB     United Kingdom - Anguilla
303 US        United States - Alaska
304 AG        Antigua and Barbuda
305 AG        Antigua and Barbuda
306 CW,SX,BQ,NL Netherlands - Curaçao, Sint Maarten, Bonaire, Sint Eustatius and Saba
307 AW,NL     Netherlands - Aruba
308 BS        Bahamas
309 BS        Bahamas
310 BM,GB     United Kingdom - Bermuda
311 BS        Bahamas
312 BZ        Belize
314 BB        Barbados
316 CA        Canada
319 KY,GB     United Kingdom - Cayman Islands
321 CR        Costa Rica
323 CU        Cuba
325 DM        Dominica
327 DO        Dominican Republic
329 GP,FR     France - Guadeloupe
330 GD        Grenada
331 GL,DK     Denmark - Greenland
332 GT        Guatemala
334 HN        Honduras
336 HT        Haiti
338 US        United States
339 JM        Jamaica
341 KN        Saint Kitts and Nevis
343 LC        Saint Lucia
345 MX        Mexico
347 MQ,FR     France - Martinique
348 MS,GB     United Kingdom - Montserrat
350 NI        Nicaragua
351 PA        Panama
352 PA        Panama
353 PA        Panama
354 PA        Panama
355 PA        Panama
356 PA        Panama
357 PA        Panama
358 PR,US     United States - Puerto Rico
359 SV        El Salvador
361 PM,FR     France - Saint Pierre and Miquelon
362 TT        Trinidad and Tobago
364 TC,GB     United Kingdom - Turks and Caicos Islands
366 US        United States
367 US        United States
368 US        United States
369 US        United States
370 PA        Panama
371 PA        Panama
372 PA        Panama
373 PA        Panama
374 PA        Panama
375 VC        Saint Vincent and the Grenadines
376 VC        Saint Vincent and the Grenadines
377 VC        Saint Vincent and the Grenadines
378 VG,GB     United Kingdom - British Virgin Islands
379 VI,US     United States - United States Virgin Islands
401 AF        Afghanistan
403 SA        Saudi Arabia
405 BD        Bangladesh
408 BH        Bahrain
410 BT        Bhutan
412 CN        China
413 CN        China
414 CN        China
416 TW        Taiwan
417 LK        Sri Lanka
419 IN        India
422 IR        Iran
423 AZ        Azerbaijan
425 IQ        Iraq
428 IL        Israel
431 JP        Japan
432 JP        Japan
434 TM        Turkmenistan
436 KZ        Kazakhstan
437 UZ        Uzbekistan
438 JO        Jordan
440 KR        Korea (Republic of)
441 KR        Korea (Republic of)
443 PS        State of Palestine
445 KP        Democratic People's Republic of Korea
447 KW        Kuwait
450 LB        Lebanon
451 KG        Kyrgyzstan
453 MO,CN     China - Macao
455 MV        Maldives
457 MN        Mongolia
459 NP        Nepal
461 OM        Oman
463 PK        Pakistan
466 QA        Qatar
468 SY        Syrian Arab Republic
470 AE        United Arab Emirates
471 AE        United Arab Emirates
472 TJ        Tajikistan
473 YE        Yemen
475 YE        Yemen
477 HK,CN     China - Hong Kong
478 BA        Bosnia and Herzegovina
501 AQ,TF,FR  France - Adélie Land
503 AU        Australia
506 MM        Myanmar
508 BN        Brunei Darussalam
510 FM        Micronesia (Federated States of)
511 PW        Palau
512 NZ        New Zealand
514 KH        Cambodia
515 KH        Cambodia
516 CX,AU     Australia - Christmas Island
518 CK,NZ     New Zealand - Cook Islands
520 FJ        Fiji
523 CC,AU     Australia - Cocos (Keeling) Islands
525 ID        Indonesia
529 KI        Kiribati
531 LA        Lao People's Democratic Republic
533 MY        Malaysia
536 MP,US     United States - Northern Mariana Islands
538 MH        Marshall Islands
540 NC,FR     France - New Caledonia
542 NU,NZ     New Zealand - Niue
544 NR        Nauru
546 PF,FR     France - French Polynesia
548 PH        Philippines
550 TL        Timor-Leste
553 PG        Papua New Guinea
555 PN,GB     United Kingdom - Pitcairn Island
557 SB        Solomon Islands
559 AS,US     United States - American Samoa
561 WS        Samoa
563 SG        Singapore
564 SG        Singapore
565 SG        Singapore
566 SG        Singapore
567 TH        Thailand
570 TO        Tonga
572 TV        Tuvalu
574 VN        Viet Nam
576 VU        Vanuatu
577 VU        Vanuatu
578 WF,FR     France - Wallis and Futuna
601 ZA        South Africa
603 AO        Angola
605 DZ        Algeria
607 TF,FR     France - Saint Paul and Amsterdam Islands
608 SH,GB     United Kingdom - Ascension Island
609 BI        Burundi
610 BJ        Benin
611 BW        Botswana
612 CF        Central African Republic
613 CM        Cameroon
615 CG        Congo
616 KM        Comoros
617 CV        Cabo Verde
618 TF,FR     France - Crozet Archipelago
619 CI        Côte d'Ivoire
620 KM        Comoros
621 DJ        Djibouti
622 EG        Egypt
624 ET        Ethiopia
625 ER        Eritrea
626 GA        Gabon
627 GH        Ghana
629 GM        Gambia
630 GW        Guinea-Bissau
631 GQ        Equatorial Guinea
632 GN        Guinea
633 BF        Burkina Faso
634 KE        Kenya
635 TF,FR     France - Kerguelen Islands
636 LR        Liberia
637 LR        Liberia
638 SS        South Sudan
642 LY        Libya
644 LS        Lesotho
645 MU        Mauritius
647 MG        Madagascar
649 ML        Mali
650 MZ        Mozambique
654 MR        Mauritania
655 MW        Malawi
656 NE        Niger
657 NG        Nigeria
659 NA        Namibia
660 RE,FR     France - Réunion
661 RW        Rwanda
662 SD        Sudan
663 SN        Senegal
664 SC        Seychelles
665 SH,GB     United Kingdom - Saint Helena
666 SO        Somalia
667 SL        Sierra Leone
668 ST        Sao Tome and Principe
669 SZ        Eswatini
670 TD        Chad
671 TG        Togo
672 TN        Tunisia
674 TZ        Tanzania
675 UG        Uganda
676 CD        Democratic Republic of the Congo
677 TZ        Tanzania
678 ZM        Zambia
679 ZW        Zimbabwe
701 AR        Argentina
710 BR        Brazil
720 BO        Bolivia
725 CL        Chile
730 CO        Colombia
735 EC        Ecuador
740 FK,GB     United Kingdom - Falkland Islands (Malvinas)
745 GF,FR     France - French Guiana
750 GY        Guyana
755 PY        Paraguay
760 PE        Peru
765 SR        Suriname
770 UY        Uruguay
775 VE        Venezuela
"""


@dataclass(frozen=True, slots=True)
class MidAllocation:
    """One MID: where it is allocated, and the flags (ISO 3166-1 alpha-2) that agree."""

    mid: str
    flags: frozenset[str]
    name: str


def _parse(table: str) -> dict[str, MidAllocation]:
    rows: dict[str, MidAllocation] = {}
    for line in table.strip().splitlines():
        mid, flags, name = line.split(maxsplit=2)
        if mid in rows:
            raise ValueError(f"MID {mid} listed twice")
        rows[mid] = MidAllocation(mid, frozenset(flags.split(",")), name)
    return rows


MID_ALLOCATIONS: dict[str, MidAllocation] = _parse(_TABLE)
"""MID (three digits, ``"520"``) → its allocation."""
