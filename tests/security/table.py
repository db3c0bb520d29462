"""The attack table (THREATS.md rows 1-11, 13 and 30): each row is one attack, the
decision and typed reason it must get, and so the audit entry it must leave.

``test_attacks.py`` plays every row against a started node; ``test_attacks_broker.py``
publishes the rows that a broker delivers once (no transient failures) on a real
nats-server. The crafting helpers are in ``craft.py``.
"""

from __future__ import annotations

import json
import os
import zlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

import pytest
from security.craft import (
    COUNT_AT,
    FIELD_AT,
    WRAP_SIZE,
    WRAPS_AT,
    Cast,
    alert_json,
    ciphertext_at,
    compress,
    ct_len_at,
    example_json,
    flip,
    header_of,
    reframe,
    sign_as,
    signature_at,
)

from keys import Identity
from node.exchange.inbound.decisions import Outcome
from node.protocol.envelope import MAX_ENVELOPE, MAX_PLAINTEXT, encrypt_and_sign
from node.protocol.receipt import make_receipt
from node.protocol.wire import LABEL, decode_frame, encode_frame
from schemas.alert import Priority, Tlp, Topic

WS_MARITIME = "lali.alert.maritime.WS"
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)

Craft = Callable[[Cast], "Crafted"]


@dataclass(frozen=True)
class Crafted:
    """What the attacker delivers; ``prior`` deliveries are genuine and come first."""

    subject: str
    data: bytes
    prior: tuple[tuple[str, bytes], ...] = ()


@dataclass(frozen=True)
class Attack:
    craft: Craft
    outcome: Outcome
    reason: str | None
    final: bool = True
    says: str = ""  # part of the audited error message: which check caught it
    received: timedelta | None = None  # broker storage time, from the cast's now


def rejected(
    name: str,
    craft: Craft,
    reason: str,
    says: str = "",
    *,
    final: bool = True,
    received: timedelta | None = None,
    marks: Any = (),
) -> Any:
    attack = Attack(craft, Outcome.REJECTED, reason, final, says, received)
    return pytest.param(attack, id=name, marks=marks)


def decided(
    name: str, craft: Craft, outcome: Outcome, reason: str | None = None, *, final: bool = True
) -> Any:
    return pytest.param(Attack(craft, outcome, reason, final), id=name)


def as_ws(data: bytes) -> Crafted:
    return Crafted(WS_MARITIME, data)


def genuine(c: Cast, recipients: tuple[str, ...] = ("FJ",)) -> bytes:
    """WS's genuine maritime alert: the raw material of most attacks."""
    return c.seal("WS", recipients)[1]


def flipped(at: Callable[[bytes], int], bit: int = 0) -> Craft:
    """WS's genuine envelope (to FJ and TO) with one bit flipped at ``at(envelope)``."""

    def craft(c: Cast) -> Crafted:
        data = genuine(c, ("FJ", "TO"))
        return as_ws(flip(data, at(data), bit))

    return craft


def field(name: str, plus: int = 0) -> Callable[[bytes], int]:
    return lambda _data: FIELD_AT[name] + plus


def at(offset: int) -> Callable[[bytes], int]:
    return lambda _data: offset


def forged(
    body: bytes | Callable[[], bytes] | None = None, sender: str = "WS", **fields: Any
) -> Craft:
    """Signed with ``sender``'s real key (a malicious member, or a thief of its key),
    encrypted to FJ; the subject names ``sender`` and the header's topic. ``body``: the
    compressed plaintext (or a function making it), default a valid alert."""

    def craft(c: Cast) -> Crafted:
        topic = fields.get("topic", Topic.MARITIME)
        plaintext = body() if callable(body) else body
        return Crafted(c.subject(topic, sender), c.forge(sender, plaintext, **fields))

    return craft


def signed_json(alert: dict[str, Any] | Callable[[Cast], dict[str, Any]], **fields: Any) -> Craft:
    """An alert (dict) of the attacker's choosing, signed by WS; the header's TLP and
    priority follow the alert, so that only what the row is about is wrong."""

    def craft(c: Cast) -> Crafted:
        body = alert(c) if callable(alert) else alert
        data = c.forge(
            "WS",
            compress(body),
            tlp=Tlp(body["tlp"]),
            priority=Priority(body["priority"]),
            **fields,
        )
        return Crafted(c.subject(fields.get("topic", Topic.MARITIME), "WS"), data)

    return craft


def signed_text(text: Callable[[], bytes]) -> Craft:
    """Arbitrary (already serialised) plaintext, compressed, signed by WS."""
    return forged(lambda: zlib.compress(text()))


def maritime_text() -> bytes:
    return json.dumps(alert_json(Topic.MARITIME)).encode()


# --- crafts that take more than an expression ------------------------------------------


def forged_signature_by_other_member(c: Cast) -> Crafted:
    return as_ws(sign_as(c.ids["TO"], decode_frame(genuine(c)).signed))


def outsider(c: Cast) -> Crafted:
    # A key pair nobody registered, claiming to be WS under its own key id.
    stranger = Identity.generate("WS")
    data = genuine(c)
    header = replace(header_of(data), sign_kid=stranger.sign_kid)
    return as_ws(reframe(data, header=header, signer=stranger))


def outsider_names_member_key(c: Cast) -> Crafted:
    # A stranger keeps WS's real key id in the header and signs with its own key.
    return as_ws(reframe(genuine(c), signer=Identity.generate("WS")))


def reordered_wraps(c: Cast) -> Crafted:
    data = genuine(c, ("FJ", "TO", "XH"))
    wraps = decode_frame(data).wraps
    return as_ws(reframe(data, wraps=[wraps[2], wraps[0], wraps[1]]))


def dropped_wrap(c: Cast) -> Crafted:
    # A relay drops one of the two wraps: the signature binds the whole list.
    data = genuine(c, ("FJ", "TO"))
    return as_ws(reframe(data, wraps=decode_frame(data).wraps[1:]))


def sender_substitution(c: Cast) -> Crafted:
    # TO re-signs WS's envelope with its own key (and key id), keeping WS as sender.
    data = genuine(c, ("FJ", "TO"))
    header = replace(header_of(data), sign_kid=c.ids["TO"].sign_kid)
    return as_ws(reframe(data, header=header, signer=c.ids["TO"]))


def sender_claims_other_key(c: Cast) -> Crafted:
    # TO re-signs WS's envelope but leaves WS's key id: WS's key does not verify it.
    return as_ws(reframe(genuine(c, ("FJ", "TO")), signer=c.ids["TO"]))


def forwarded(c: Cast, *, resign: bool) -> bytes:
    """TO received WS's alert (sent to TO only) and passes it on to FJ under WS's name,
    wrapping a content key for FJ with its own X25519 key (it has no other)."""
    original = genuine(c, ("TO",))
    header = header_of(original)
    to = c.ids["TO"]
    copy = c.forge(
        "TO",
        sender="WS",
        message_id=header.message_id,
        sign_kid=to.sign_kid if resign else c.ids["WS"].sign_kid,
    )
    if resign:
        return copy
    # Keep WS's header, ciphertext and signature; swap in the wrap TO made for FJ.
    return reframe(original, wraps=decode_frame(copy).wraps)


def enc_key_of_another_member(c: Cast) -> Crafted:
    # WS signs, but names TO's X25519 key as the one that wrapped the content key (as if
    # it held TO's secret: the receiver must refuse before it even tries the wrap).
    ws, to = c.ids["WS"], c.ids["TO"]
    chimera = Identity("WS", ws.signing_key, to.encryption_keys)
    return as_ws(replace(c, ids={**c.ids, "WS": chimera}).forge("WS", enc_kid=to.enc_kid))


def header_changed_and_resigned(c: Cast) -> Crafted:
    # The sender itself lowers the TLP after encrypting: the header is the AEAD's AD.
    data = genuine(c)
    return as_ws(reframe(data, header=replace(header_of(data), tlp=Tlp.CLEAR), signer=c.ids["WS"]))


def different_keys_per_recipient(c: Cast) -> Crafted:
    # "Invisible salamanders": WS wraps one content key for TO and another for FJ under
    # one signature; the header commits to TO's key, so FJ must refuse.
    ws = c.ids["WS"]
    k_to, k_fj = os.urandom(32), os.urandom(32)
    header = c.header("WS", k_to)
    body = zlib.compress(maritime_text())
    for_to = decode_frame(encrypt_and_sign(header, body, k_to, ws, [c.public("TO")]))
    for_fj = decode_frame(encrypt_and_sign(header, body, k_fj, ws, [c.public("FJ")]))
    mixed = encode_frame(for_to.header_bytes, [*for_to.wraps, *for_fj.wraps], for_to.ciphertext)
    return as_ws(sign_as(ws, mixed))


def commitment_to_another_key(c: Cast) -> Crafted:
    # The header commits to a key that is not the one wrapped and used.
    header = c.header("WS", os.urandom(32))
    body = zlib.compress(maritime_text())
    return as_ws(encrypt_and_sign(header, body, os.urandom(32), c.ids["WS"], [c.public("FJ")]))


def deeply_nested() -> bytes:
    return zlib.compress(b'{"title":' + b"[" * 30_000 + b"]" * 30_000 + b"}")


def bomb() -> bytes:
    # About 64 KiB that inflates to 64 MiB.
    return zlib.compress(b"{" * (64 * 1024 * 1024), 9)


def just_over_cap() -> bytes:
    return zlib.compress(b" " * (MAX_PLAINTEXT + 1))


def incompressible() -> bytes:
    return os.urandom(MAX_ENVELOPE)


def huge_json(c: Cast) -> dict[str, Any]:
    # Just under the 64 KiB plaintext cap: a summary about 16 times its limit.
    alert = alert_json(Topic.MARITIME)
    alert["summary"] = "x" * (MAX_PLAINTEXT - 2048)
    return alert


def huge_integer() -> bytes:
    text = maritime_text()
    assert b'"persons_on_board": 1874' in text
    return text.replace(b'"persons_on_board": 1874', b'"persons_on_board": ' + b"9" * 50_000)


def non_finite(c: Cast) -> dict[str, Any]:
    alert = alert_json(Topic.MARITIME)
    alert["payload"]["position"]["latitude"] = float("nan")
    return alert


def invalid_utf8() -> bytes:
    text = maritime_text()
    assert b"Cruise" in text
    return text.replace(b"Cruise", b"Cr\xff\xfese", 1)


def duplicate_keys() -> bytes:
    # Two titles: this parser keeps the last; other parsers keep the first (or refuse).
    return b'{"title": "Routine notice, no action needed",' + maritime_text()[1:]


def padded_body() -> bytes:
    return zlib.compress(maritime_text())


def nonzero_padding(c: Cast) -> Crafted:
    body = padded_body()
    return as_ws(c.forge_padded("WS", len(body).to_bytes(4, "big") + body + bytes(300) + b"\x01"))


def length_prefix_beyond(c: Cast) -> Crafted:
    body = padded_body()
    return as_ws(c.forge_padded("WS", (len(body) + 400).to_bytes(4, "big") + body + bytes(256)))


def alert_expiry_differs(c: Cast) -> dict[str, Any]:
    # Header says "no expiry"; the alert inside says it expires tomorrow.
    alert = alert_json(Topic.MARITIME)
    alert["expires_at"] = (c.now + DAY).isoformat()
    return alert


def asylum_payload(c: Cast) -> dict[str, Any]:
    # Signed header and subject say maritime; the payload is an asylum alert.
    return alert_json(Topic.ASYLUM)


def receipt_as_envelope(c: Cast) -> Crafted:
    # A genuine signed receipt made by WS, delivered as if it were WS's alert.
    header, _ = c.seal("TO", ["WS"])
    return as_ws(make_receipt(header.message_id, "TO", c.ids["WS"], c.now))


def relabelled(c: Cast) -> Crafted:
    # The envelope's bytes under another blob kind's label, signed anew by WS.
    signed = decode_frame(genuine(c)).signed
    return as_ws(sign_as(c.ids["WS"], b"lali.receipt.v1\x00" + signed[len(LABEL) :]))


def replay_same_bytes(c: Cast) -> Crafted:
    data = genuine(c)
    return Crafted(WS_MARITIME, data, prior=((WS_MARITIME, data),))


def replay_other_content(c: Cast) -> Crafted:
    # WS (or a thief of its key) re-sends the id of an alert FJ already holds.
    header, first = c.seal("WS", ["FJ"])
    second = c.forge("WS", message_id=header.message_id)
    return Crafted(WS_MARITIME, second, prior=((WS_MARITIME, first),))


def replay_id_of_another_member(c: Cast) -> Crafted:
    # TO reuses the (clear-text) message id of WS's alert for an alert of its own.
    header, first = c.seal("WS", ["FJ"])
    squatter = c.forge("TO", message_id=header.message_id)
    return Crafted("lali.alert.maritime.TO", squatter, prior=((WS_MARITIME, first),))


def reflected_own_alert(c: Cast) -> Crafted:
    # FJ's own alert (to WS) played back to FJ: acked as its own, nothing stored.
    return Crafted("lali.alert.maritime.FJ", c.seal("FJ", ["WS"])[1])


def with_subject(subject: str) -> Craft:
    return lambda c: Crafted(subject, genuine(c))


def raw(data: bytes) -> Craft:
    return lambda _c: as_ws(data)


def directory_file(c: Cast) -> Crafted:
    return as_ws(c.directory_file)


def forwarded_keeping_signature(c: Cast) -> Crafted:
    return as_ws(forwarded(c, resign=False))


def forwarded_resigned(c: Cast) -> Crafted:
    return as_ws(forwarded(c, resign=True))


def zlib_with_tail() -> bytes:
    return zlib.compress(maritime_text()) + b"tail"


def invalid_example(name: str) -> Callable[[Cast], dict[str, Any]]:
    return lambda _c: example_json("invalid", name)


DEFER = Outcome.DEFER


ATTACKS = [
    # --- 1. spoofed sender --------------------------------------------------------------
    rejected(
        "forged-signature-random",
        lambda c: as_ws(genuine(c)[:-64] + os.urandom(64)),
        "bad_signature",
    ),
    rejected("forged-signature-by-other-member", forged_signature_by_other_member, "bad_signature"),
    rejected("outsider-key", outsider, "unknown_key"),
    decided("outsider-key-not-final", outsider, Outcome.DEFER, "unknown_key", final=False),
    rejected("outsider-names-member-key-id", outsider_names_member_key, "bad_signature"),
    rejected("sender-substitution", sender_substitution, "sender_mismatch", "signing key"),
    rejected("sender-claims-other-key-id", sender_claims_other_key, "bad_signature"),
    rejected("enc-key-of-another-member", enc_key_of_another_member, "sender_mismatch", "encrypt"),
    # --- 2. surreptitious forwarding ----------------------------------------------------
    rejected("forwarded-keeping-signature", forwarded_keeping_signature, "bad_signature"),
    rejected("forwarded-resigned", forwarded_resigned, "sender_mismatch", "signing key"),
    # --- 4. tampering: one bit flipped in each part -------------------------------------
    rejected("bitflip-label", flipped(at(0)), "malformed", "label"),
    rejected("bitflip-version", flipped(field("version")), "malformed", "version"),
    rejected("bitflip-topic", flipped(field("topic")), "bad_signature"),
    rejected("bitflip-tlp", flipped(field("tlp")), "bad_signature"),
    rejected("bitflip-priority", flipped(field("priority")), "bad_signature"),
    rejected("bitflip-flags", flipped(field("flags")), "malformed", "flags"),
    rejected("bitflip-sender", flipped(field("sender", 1)), "bad_signature"),
    rejected("bitflip-sign-kid", flipped(field("sign_kid", 3)), "unknown_key"),
    rejected("bitflip-enc-kid", flipped(field("enc_kid", 3)), "bad_signature"),
    rejected("bitflip-message-id-time", flipped(field("message_id", 5)), "bad_signature"),
    rejected("bitflip-message-id-version", flipped(field("message_id", 6), 4), "malformed", "UUID"),
    rejected("bitflip-message-id-variant", flipped(field("message_id", 8), 7), "malformed", "UUID"),
    rejected("bitflip-message-id-random", flipped(field("message_id", 15)), "bad_signature"),
    rejected("bitflip-expiry", flipped(field("expires_ms", 7)), "bad_signature"),
    rejected("bitflip-expiry-past-9999", flipped(field("expires_ms"), 7), "malformed", "range"),
    rejected("bitflip-commitment", flipped(field("commitment", 23)), "bad_signature"),
    rejected("bitflip-count-up", flipped(at(COUNT_AT)), "malformed", "framing"),
    rejected("bitflip-count-to-zero", flipped(at(COUNT_AT), 1), "malformed", "no recipients"),
    rejected("bitflip-wrap-tag", flipped(at(WRAPS_AT)), "bad_signature"),
    rejected("bitflip-wrap-key", flipped(at(WRAPS_AT + 12)), "bad_signature"),
    rejected("bitflip-second-wrap", flipped(at(WRAPS_AT + WRAP_SIZE + 30)), "bad_signature"),
    rejected("bitflip-ct-len", flipped(lambda d: ct_len_at(d) + 3), "malformed", "framing"),
    rejected("bitflip-ciphertext", flipped(ciphertext_at), "bad_signature"),
    rejected("bitflip-aead-tag", flipped(lambda d: signature_at(d) - 1), "bad_signature"),
    rejected("bitflip-signature-r", flipped(signature_at), "bad_signature"),
    rejected("bitflip-signature-s", flipped(lambda _d: -1, 7), "bad_signature"),
    rejected("reordered-wraps", reordered_wraps, "bad_signature"),
    rejected("dropped-wrap", dropped_wrap, "bad_signature"),
    # --- 5. truncation and appended bytes -----------------------------------------------
    rejected("truncated-by-one", lambda c: as_ws(genuine(c)[:-1]), "malformed", "framing"),
    rejected("truncated-signature", lambda c: as_ws(genuine(c)[:-64]), "malformed", "framing"),
    rejected("truncated-in-header", lambda c: as_ws(genuine(c)[:40]), "malformed", "truncated"),
    rejected("label-only", raw(LABEL), "malformed", "truncated"),
    rejected("appended-byte", lambda c: as_ws(genuine(c) + b"\x00"), "malformed", "framing"),
    rejected("appended-signature", lambda c: as_ws(genuine(c) + genuine(c)[-64:]), "malformed"),
    rejected("envelope-twice", lambda c: as_ws(genuine(c) * 2), "malformed", "framing"),
    # --- 6. type confusion --------------------------------------------------------------
    rejected("receipt-as-envelope", receipt_as_envelope, "malformed", "label"),
    rejected("relabelled-as-receipt", relabelled, "malformed", "label"),
    rejected("directory-file-as-envelope", directory_file, "malformed", "label"),
    # --- 3 and 7. not for us, replay, reflection ----------------------------------------
    decided("not-addressed", lambda c: as_ws(genuine(c, ("TO",))), Outcome.NOT_ADDRESSED),
    decided("replay-same-bytes", replay_same_bytes, Outcome.DUPLICATE),
    decided("replay-same-bytes-not-final", replay_same_bytes, Outcome.DUPLICATE, final=False),
    rejected("replay-id-other-content", replay_other_content, "replay", "different content"),
    rejected("replay-id-of-other-member", replay_id_of_another_member, "replay", "different"),
    decided("reflected-own-alert", reflected_own_alert, Outcome.OWN),
    # --- identity: subject and directory policy (STYLE.md practice 3) -------------------
    rejected(
        "subject-names-other-sender",
        with_subject("lali.alert.maritime.TO"),
        "sender_mismatch",
        "another sender",
    ),
    rejected(
        "subject-names-other-topic",
        with_subject("lali.alert.asylum.WS"),
        "sender_mismatch",
        "another topic",
    ),
    rejected("subject-not-an-alert", with_subject("lali.alert.maritime"), "malformed", "subject"),
    rejected("subject-unknown-topic", with_subject("lali.alert.weather.WS"), "malformed", "topic"),
    rejected("subject-lowercase-sender", with_subject("lali.alert.maritime.ws"), "malformed"),
    rejected(
        "topic-not-allowed-for-member",
        forged(sender="VU", topic=Topic.ASYLUM),
        "sender_mismatch",
        "may not send on this topic",
    ),
    rejected("member-sends-bulletin", forged(topic=Topic.BULLETIN), "sender_mismatch", "hub"),
    # --- 13. keys outside their validity ------------------------------------------------
    rejected("expired-key", forged(sender="KI"), "key_not_valid"),
    decided("expired-key-not-final", forged(sender="KI"), DEFER, "key_not_valid", final=False),
    rejected("not-yet-valid-key", forged(sender="NR"), "key_not_valid"),
    decided("not-yet-valid-not-final", forged(sender="NR"), DEFER, "key_not_valid", final=False),
    rejected("backdated-before-key-existed", forged(at=-31 * DAY), "key_not_valid"),
    # PW's signing key was revoked an hour ago: judged by when the broker stored the
    # message (or by now), never by the time the signer claims.
    rejected("revoked-key", forged(sender="PW"), "key_revoked", received=timedelta(0)),
    rejected("revoked-key-no-broker-time", forged(sender="PW"), "key_revoked"),
    rejected(
        "revoked-key-backdated",
        forged(sender="PW", at=-2 * HOUR),
        "key_revoked",
        received=timedelta(0),
    ),
    rejected(
        "revoked-key-broker-time-from-future",
        forged(sender="PW", at=-2 * HOUR),
        "key_revoked",
        received=DAY,
    ),
    rejected(
        "revoked-key-not-final",
        forged(sender="PW"),
        "key_revoked",
        final=False,
        received=timedelta(0),
    ),
    # --- 30. time -----------------------------------------------------------------------
    rejected("clock-skew-future", forged(at=HOUR), "clock_skew"),
    decided("clock-skew-future-not-final", forged(at=HOUR), DEFER, "clock_skew", final=False),
    rejected("older-than-max-age", forged(at=-15 * DAY), "expired", "maximum age"),
    rejected("alert-expired", forged(at=-2 * HOUR, expires_in=HOUR), "expired", "alert has"),
    # --- a valid signature over a bad payload -------------------------------------------
    rejected(
        "payload-type-differs-from-header",
        signed_json(asylum_payload),
        "schema_violation",
        "differ from the signed header",
    ),
    rejected(
        "header-tlp-differs-from-alert",
        forged(tlp=Tlp.RED),
        "schema_violation",
        "differ from the signed header",
    ),
    rejected(
        "alert-expiry-differs-from-header",
        signed_json(alert_expiry_differs),
        "schema_violation",
        "expiry differs",
    ),
    rejected(
        "header-changed-and-resigned",
        header_changed_and_resigned,
        "decryption_failed",
        "does not authenticate",
    ),
    rejected(
        "different-keys-per-recipient",
        different_keys_per_recipient,
        "decryption_failed",
        "commitment",
    ),
    rejected(
        "commitment-to-another-key", commitment_to_another_key, "decryption_failed", "commitment"
    ),
    rejected(
        "invalid-mrz",
        signed_json(invalid_example("bad_mrz_check_digit.json"), topic=Topic.IDENTITY_FRAUD),
        "schema_violation",
        "documents.0.mrz",
    ),
    rejected(
        "invalid-imo",
        signed_json(invalid_example("bad_imo_check_digit.json")),
        "schema_violation",
        "vessel.imo",
    ),
    rejected("deeply-nested-json", forged(deeply_nested), "schema_violation", "<root>"),
    rejected("huge-json", signed_json(huge_json), "schema_violation", "summary"),
    rejected("huge-integer", signed_text(huge_integer), "schema_violation", "<root>"),
    rejected("non-finite-number", signed_json(non_finite), "schema_violation", "latitude"),
    rejected("invalid-utf8", signed_text(invalid_utf8), "schema_violation", "<root>"),
    rejected("empty-plaintext", signed_text(bytes), "schema_violation", "<root>"),
    rejected("duplicate-json-keys", signed_text(duplicate_keys), "schema_violation", "repeats"),
    rejected("not-zlib", forged(b"not zlib at all"), "malformed", "zlib"),
    rejected("zlib-trailing-bytes", forged(zlib_with_tail), "malformed", "zlib"),
    rejected("nonzero-padding", nonzero_padding, "malformed", "padding"),
    rejected("length-prefix-beyond-plaintext", length_prefix_beyond, "malformed", "prefix"),
    # --- 9 and 11. size and compression bombs -------------------------------------------
    rejected("oversized-junk", raw(LABEL + bytes(MAX_ENVELOPE + 1 - len(LABEL))), "oversized"),
    rejected("oversized-signed", forged(incompressible), "oversized"),
    rejected("at-size-limit-junk", raw(LABEL + bytes(MAX_ENVELOPE - len(LABEL))), "malformed"),
    rejected("decompression-bomb", forged(bomb), "decompression_limit"),
    rejected("just-over-plaintext-cap", forged(just_over_cap), "decompression_limit"),
    # --- 10. junk -----------------------------------------------------------------------
    rejected("random-garbage", raw(os.urandom(1000)), "malformed", "label"),
    rejected("empty-message", raw(b""), "malformed", "label"),
]
