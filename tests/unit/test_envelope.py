"""The envelope: round trip, and every way of breaking it (THREATS.md rows 1-6, 9-11)."""

from __future__ import annotations

import zlib
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from testkit import NOW, make_keyring, sample_alert

from keys import Identity
from node.protocol.envelope import (
    MAX_AGE,
    MAX_ENVELOPE,
    MAX_PLAINTEXT,
    _unwrap,
    encrypt_and_sign,
    key_commitment,
    open_envelope,
    seal,
    verify,
)
from node.protocol.wire import LABEL, Header, decode_frame, encode_frame, new_message_id
from schemas.alert import Topic
from schemas.errors import (
    BadSignature,
    ClockSkew,
    DecompressionBomb,
    DecryptionFailed,
    KeyNotValid,
    MalformedMessage,
    MessageExpired,
    NotAddressed,
    OversizedMessage,
    PolicyViolation,
    SchemaViolation,
    SenderMismatch,
    UnknownKey,
    UntrustedMessage,
)

KR = make_keyring()
ALERT = sample_alert(Topic.MARITIME)
HEADER, SEALED = seal(ALERT, KR.ids["WS"], ["FJ", "TO"], KR.directory, NOW)


def test_round_trip_for_each_recipient() -> None:
    for code in ("FJ", "TO"):
        opened = open_envelope(SEALED, KR.ids[code], KR.directory, NOW + timedelta(minutes=1))
        assert opened.alert == ALERT
        assert opened.header.sender == "WS"
        assert opened.header.message_id == HEADER.message_id
        assert opened.header.topic is Topic.MARITIME
        assert opened.raw == SEALED


def test_every_topic_round_trips() -> None:
    for topic in Topic:
        alert = sample_alert(topic)
        sender = "XH" if topic is Topic.BULLETIN else "FJ"
        _, data = seal(alert, KR.ids[sender], ["WS"], KR.directory, NOW)
        assert open_envelope(data, KR.ids["WS"], KR.directory, NOW).alert == alert


def test_non_recipient_is_not_addressed_and_gets_no_plaintext() -> None:
    for code in ("XH", "WS"):
        with pytest.raises(NotAddressed):
            open_envelope(SEALED, KR.ids[code], KR.directory, NOW)


def test_recipients_are_not_named_in_clear() -> None:
    header_bytes = decode_frame(SEALED).header_bytes
    for code in ("FJ", "TO"):
        assert code.encode() not in header_bytes
        for kid in (KR.ids[code].sign_kid, KR.ids[code].enc_kid):
            assert bytes.fromhex(kid) not in SEALED


def test_verify_needs_no_private_key_and_checks_subject() -> None:
    verified = verify(SEALED, KR.directory, NOW, subject_sender="WS", subject_topic=Topic.MARITIME)
    assert verified.header == HEADER
    with pytest.raises(SenderMismatch):
        verify(SEALED, KR.directory, NOW, subject_sender="FJ")
    with pytest.raises(SenderMismatch):
        verify(SEALED, KR.directory, NOW, subject_topic=Topic.ASYLUM)


def test_every_single_bit_flip_is_rejected() -> None:
    accepted = []
    for bit in range(len(SEALED) * 8):
        data = bytearray(SEALED)
        data[bit // 8] ^= 1 << (bit % 8)
        try:
            open_envelope(bytes(data), KR.ids["FJ"], KR.directory, NOW)
        except UntrustedMessage:
            continue
        accepted.append(bit)
    assert accepted == [], f"bit flips accepted at {accepted[:10]}"


def test_every_truncation_and_extension_is_rejected() -> None:
    for cut in range(len(SEALED)):
        with pytest.raises(UntrustedMessage):
            verify(SEALED[:cut], KR.directory, NOW)
    for extra in (b"\x00", b"\xff" * 64, SEALED):
        with pytest.raises(UntrustedMessage):
            verify(SEALED + extra, KR.directory, NOW)


def _resign(data: bytes, signer: Identity, *, header: Header | None = None) -> bytes:
    """Re-frame an envelope with a changed header and sign it with ``signer``."""
    frame = decode_frame(data)
    header_bytes = frame.header_bytes if header is None else header.encode()
    body = encode_frame(header_bytes, list(frame.wraps), frame.ciphertext)
    return body + signer.signing_key.sign(body).signature


def test_sender_substitution_is_rejected() -> None:
    # WS signs an envelope that claims FJ sent it (FJ's key ids, WS's signature).
    forged = Header(**{**HEADER.__dict__, "sender": "FJ", "sign_kid": KR.ids["FJ"].sign_kid})
    with pytest.raises(BadSignature):
        verify(_resign(SEALED, KR.ids["WS"], header=forged), KR.directory, NOW)
    # ... or WS's key ids with FJ named as sender: the key belongs to someone else.
    forged = Header(**{**HEADER.__dict__, "sender": "FJ"})
    with pytest.raises(SenderMismatch):
        verify(_resign(SEALED, KR.ids["WS"], header=forged), KR.directory, NOW)


def test_signer_outside_the_directory_is_rejected() -> None:
    outsider = Identity.generate("WS")
    forged = Header(**{**HEADER.__dict__, "sign_kid": outsider.sign_kid})
    with pytest.raises(UnknownKey):
        verify(_resign(SEALED, outsider, header=forged), KR.directory, NOW)


def test_header_changed_and_resigned_by_sender_fails_aead() -> None:
    # Even the sender cannot change the header after the fact: it is the AEAD's AD.
    changed = Header(**{**HEADER.__dict__, "tlp": HEADER.tlp.__class__("CLEAR")})
    with pytest.raises(DecryptionFailed):
        open_envelope(
            _resign(SEALED, KR.ids["WS"], header=changed), KR.ids["FJ"], KR.directory, NOW
        )


def test_surreptitious_forwarding_is_rejected() -> None:
    # FJ can read WS's alert; it tries to pass it to XH under WS's name by swapping in
    # a wrap for XH. It cannot sign as WS, so the altered envelope fails.
    fj = KR.ids["FJ"]
    frame = decode_frame(SEALED)
    forged_body = encode_frame(frame.header_bytes, list(frame.wraps)[:1], frame.ciphertext)
    with pytest.raises(BadSignature):
        verify(forged_body + frame.signature, KR.directory, NOW)
    with pytest.raises(BadSignature):  # re-signed by FJ: WS's key id does not verify it
        verify(forged_body + fj.signing_key.sign(forged_body).signature, KR.directory, NOW)
    # Naming FJ's own key while still claiming WS as sender: identity check refuses it.
    claimed = Header(**{**HEADER.__dict__, "sign_kid": fj.sign_kid})
    with pytest.raises(SenderMismatch):
        verify(_resign(SEALED, fj, header=claimed), KR.directory, NOW)


def test_signature_from_another_context_is_rejected() -> None:
    frame = decode_frame(SEALED)
    relabelled = b"lali.receipt.v01" + frame.signed[len(LABEL) :]
    ws = KR.ids["WS"]
    with pytest.raises(MalformedMessage):
        verify(relabelled + ws.signing_key.sign(relabelled).signature, KR.directory, NOW)
    # A signature made over the same bytes without our label does not verify as ours.
    bare_sig = ws.signing_key.sign(frame.signed[len(LABEL) :]).signature
    with pytest.raises(BadSignature):
        verify(frame.signed + bare_sig, KR.directory, NOW)


def test_oversized_is_rejected_before_parsing() -> None:
    with pytest.raises(OversizedMessage):
        verify(b"\x00" * (MAX_ENVELOPE + 1), KR.directory, NOW)


def _hostile(body: bytes) -> bytes:
    ws = KR.ids["WS"]
    key = b"\x07" * 32
    header = Header(
        **{
            **HEADER.__dict__,
            "message_id": new_message_id(NOW, b"\x01" * 10),
            "commitment": key_commitment(key),
        }
    )
    public = KR.directory.current_encryption_key("FJ", NOW).public_bytes()
    return encrypt_and_sign(header, body, key, ws, [public])


def test_decompression_bomb_is_capped() -> None:
    bomb = zlib.compress(b"{" * (64 * 1024 * 1024), 9)
    assert len(bomb) < 128 * 1024
    with pytest.raises(DecompressionBomb):
        open_envelope(_hostile(bomb), KR.ids["FJ"], KR.directory, NOW)


def test_just_over_the_plaintext_cap_is_rejected() -> None:
    with pytest.raises(DecompressionBomb):
        open_envelope(
            _hostile(zlib.compress(b" " * (MAX_PLAINTEXT + 1))), KR.ids["FJ"], KR.directory, NOW
        )


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b"not zlib at all", MalformedMessage),
        (zlib.compress(b"{}")[:-2], MalformedMessage),
        (zlib.compress(b"{}") + b"trailing", MalformedMessage),
        (zlib.compress(b'{"title": 1}'), SchemaViolation),
    ],
)
def test_signed_garbage_gets_a_typed_error(body: bytes, error: type[Exception]) -> None:
    with pytest.raises(error):
        open_envelope(_hostile(body), KR.ids["FJ"], KR.directory, NOW)


def test_payload_that_disagrees_with_header_is_rejected() -> None:
    other = sample_alert(Topic.ASYLUM)  # header says maritime
    with pytest.raises(SchemaViolation):
        open_envelope(
            _hostile(zlib.compress(other.model_dump_json().encode())),
            KR.ids["FJ"],
            KR.directory,
            NOW,
        )


def test_expired_and_future_messages() -> None:
    alert = ALERT.model_copy(update={"expires_at": NOW + timedelta(hours=1)})
    _, data = seal(alert, KR.ids["WS"], ["FJ"], KR.directory, NOW)
    assert open_envelope(data, KR.ids["FJ"], KR.directory, NOW + timedelta(minutes=59))
    with pytest.raises(MessageExpired):
        open_envelope(data, KR.ids["FJ"], KR.directory, NOW + timedelta(hours=1))
    with pytest.raises(ClockSkew):
        open_envelope(SEALED, KR.ids["FJ"], KR.directory, NOW - timedelta(hours=1))


def test_key_outside_its_validity_window() -> None:
    with pytest.raises(KeyNotValid):
        seal(ALERT, KR.ids["WS"], ["FJ"], KR.directory, NOW + timedelta(days=31))


@pytest.mark.parametrize("recipients", [[], ["FJ", "FJ"], ["WS"]], ids=["none", "twice", "self"])
def test_seal_refuses_bad_recipient_lists(recipients: list[str]) -> None:
    with pytest.raises(PolicyViolation):
        seal(ALERT, KR.ids["WS"], recipients, KR.directory, NOW)


def test_seal_refuses_unknown_recipient_and_expired_alert() -> None:
    with pytest.raises(UnknownKey):
        seal(ALERT, KR.ids["WS"], ["KI"], KR.directory, NOW)
    expired = ALERT.model_copy(update={"expires_at": NOW - timedelta(seconds=1)})
    with pytest.raises(PolicyViolation):
        seal(expired, KR.ids["WS"], ["FJ"], KR.directory, NOW)


def test_each_message_has_a_fresh_id_and_ciphertext() -> None:
    h1, d1 = seal(ALERT, KR.ids["WS"], ["FJ"], KR.directory, NOW)
    h2, d2 = seal(ALERT, KR.ids["WS"], ["FJ"], KR.directory, NOW)
    assert h1.message_id != h2.message_id
    assert decode_frame(d1).ciphertext != decode_frame(d2).ciphertext
    assert h1.sent_at == NOW


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2048))
def test_random_bytes_only_raise_untrusted(data: bytes) -> None:
    with pytest.raises(UntrustedMessage):
        open_envelope(data, KR.ids["FJ"], KR.directory, NOW)


@settings(max_examples=300)
@given(
    st.lists(
        st.tuples(st.integers(0, len(SEALED) - 1), st.integers(1, 255)),
        min_size=1,
        max_size=8,
        unique_by=lambda edit: edit[0],
    )
)
def test_random_mutations_are_rejected(edits: list[tuple[int, int]]) -> None:
    data = bytearray(SEALED)
    for pos, xor in edits:
        data[pos] ^= xor
    with pytest.raises(UntrustedMessage):
        open_envelope(bytes(data), KR.ids["FJ"], KR.directory, NOW)


@pytest.mark.parametrize("offset", [23, 39], ids=["message-id-time", "expiry"])
def test_header_times_beyond_year_9999_are_malformed(offset: int) -> None:
    raw = bytearray(HEADER.encode())
    raw[offset : offset + 6] = b"\xff" * 6
    forged = _resign(SEALED, KR.ids["WS"], header=Header.decode(HEADER.encode()))
    data = bytearray(forged)
    data[len(LABEL) : len(LABEL) + len(raw)] = raw
    with pytest.raises(MalformedMessage):
        verify(bytes(data), KR.directory, NOW)


def test_only_the_hub_sends_bulletins() -> None:
    bulletin = sample_alert(Topic.BULLETIN)
    with pytest.raises(PolicyViolation, match="hub"):
        seal(bulletin, KR.ids["WS"], ["FJ"], KR.directory, NOW)
    # A member that forges one anyway (header says bulletin, signed by WS) is refused.
    forged = Header(**{**HEADER.__dict__, "topic": Topic.BULLETIN})
    with pytest.raises(SenderMismatch, match="hub"):
        verify(_resign(SEALED, KR.ids["WS"], header=forged), KR.directory, NOW)


def test_topics_outside_the_members_directory_entry_are_refused() -> None:
    kr = make_keyring(topics={"WS": ["maritime"]})
    with pytest.raises(PolicyViolation, match="topic"):
        seal(sample_alert(Topic.ASYLUM), kr.ids["WS"], ["FJ"], kr.directory, NOW)
    _, ok = seal(sample_alert(Topic.MARITIME), kr.ids["WS"], ["FJ"], kr.directory, NOW)
    forged = Header(**{**decode_header(ok).__dict__, "topic": Topic.ASYLUM})
    with pytest.raises(SenderMismatch, match="topic"):
        verify(_resign(ok, kr.ids["WS"], header=forged), kr.directory, NOW)


def decode_header(data: bytes) -> Header:
    return Header.decode(decode_frame(data).header_bytes)


def test_recipients_cannot_be_given_different_keys() -> None:
    # A malicious sender wraps a different content key for TO than for FJ: the signed
    # commitment names one key, so TO refuses instead of reading another plaintext.
    ws = KR.ids["WS"]
    k1, k2 = b"\x01" * 32, b"\x02" * 32
    header = Header(**{**HEADER.__dict__, "commitment": key_commitment(k1)})
    fj_pub = KR.directory.current_encryption_key("FJ", NOW).public_bytes()
    to_pub = KR.directory.current_encryption_key("TO", NOW).public_bytes()
    body = zlib.compress(ALERT.model_dump_json(exclude_none=True).encode())
    for_fj = decode_frame(encrypt_and_sign(header, body, k1, ws, [fj_pub]))
    for_to = decode_frame(encrypt_and_sign(header, body, k2, ws, [to_pub]))
    mixed = encode_frame(for_fj.header_bytes, [*for_fj.wraps, *for_to.wraps], for_fj.ciphertext)
    data = mixed + ws.signing_key.sign(mixed).signature
    assert open_envelope(data, KR.ids["FJ"], KR.directory, NOW).alert == ALERT
    with pytest.raises(DecryptionFailed, match="commitment"):
        open_envelope(data, KR.ids["TO"], KR.directory, NOW)


def test_messages_older_than_the_maximum_age_are_refused() -> None:
    with pytest.raises(MessageExpired, match="maximum age"):
        verify(SEALED, KR.directory, NOW + MAX_AGE + timedelta(seconds=1))
    assert verify(SEALED, KR.directory, NOW + MAX_AGE - timedelta(seconds=1))


def test_low_order_sender_key_gives_a_typed_error() -> None:
    # A hub-signed directory holding an all-zero X25519 key must not crash a reader.
    with pytest.raises(UntrustedMessage):
        _unwrap(decode_frame(SEALED).wraps, KR.ids["FJ"], bytes(32), HEADER.message_id_bytes)
