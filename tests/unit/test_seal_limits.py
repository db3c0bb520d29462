"""Sealing refuses what no receiver would accept (docs/wire-format.md, header ranges)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from testkit import NOW, make_keyring, sample_alert

from node.protocol.envelope import open_envelope, seal
from node.protocol.wire import MAX_MS, from_ms, to_ms
from schemas.alert import Topic
from schemas.errors import PolicyViolation

KR = make_keyring()


def test_an_expiry_past_the_header_range_is_refused_when_sealing() -> None:
    # 9999-12-31T23:00-05:00 is a valid alert time, but 10000-01-01T04:00Z in UTC: the
    # header's expires_ms would be out of range and every receiver would answer
    # `malformed`. The sender is told instead.
    late = datetime(9999, 12, 31, 23, 0, tzinfo=timezone(timedelta(hours=-5)))
    assert to_ms(late) > MAX_MS
    alert = sample_alert(Topic.MARITIME).model_copy(update={"expires_at": late})
    with pytest.raises(PolicyViolation, match="9999"):
        seal(alert, KR.ids["WS"], ["FJ"], KR.directory, NOW)


def test_the_last_expiry_the_header_holds_still_seals() -> None:
    last = from_ms(MAX_MS)
    assert last == datetime(9999, 12, 31, 23, 59, 59, 999000, tzinfo=UTC)
    alert = sample_alert(Topic.MARITIME).model_copy(update={"expires_at": last})
    header, data = seal(alert, KR.ids["WS"], ["FJ"], KR.directory, NOW)
    assert header.expires_at == last
    assert open_envelope(data, KR.ids["FJ"], KR.directory, NOW).alert.expires_at == last
