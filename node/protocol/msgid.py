"""The ``Nats-Msg-Id`` of every message Lali puts in the stream, derived from the message.

JetStream drops a publish whose ``Nats-Msg-Id`` it already stored within the stream's
duplicate window, whatever the subject. An id that can be predicted can be taken
first: a member that published one byte on its own dead-letter subject under
``rcpt-<message id>-<RECIPIENT>`` made the broker drop the recipient's real receipt,
and nobody noticed. So the id is a hash of the exact subject and the exact bytes
(``docs/wire-format.md``, "NATS"):

    id    = family "-" hex(BLAKE2b-128(LABEL || u16(len(subject)) || subject || data))
    LABEL = "lali.msgid.v1\\0"
    family: alert, receipt, checkpoint or dead (the subject's second token)

Only the identical bytes on the identical subject have that id, and whoever could
compute it already holds the message, which only its publisher has before it is
stored; the same bytes on another subject (or family) get another id. A retried
publish of an outbox row (the same stored bytes on the same subject) gets the same id,
so the broker still keeps one copy.
"""

from __future__ import annotations

import hashlib

from node.protocol.subjects import ALERT_PREFIX, CHECKPOINT_PREFIX, DEAD_PREFIX, RECEIPT_PREFIX

LABEL = b"lali.msgid.v1\x00"
DIGEST_SIZE = 16  # BLAKE2b-128: 32 hex characters
MAX_SUBJECT = 0xFFFF  # the length is hashed as two bytes
FAMILIES = {
    ALERT_PREFIX: "alert",
    RECEIPT_PREFIX: "receipt",
    CHECKPOINT_PREFIX: "checkpoint",
    DEAD_PREFIX: "dead",
}


def family(subject: str) -> str:
    """The id's family, from the subject: ``lali.<family>.<at least one token>``."""
    parts = subject.split(".")
    name = FAMILIES.get(".".join(parts[:2]))
    if name is None or len(parts) < 3 or not all(parts):
        raise ValueError(f"not a subject Lali publishes to the stream: {subject!r}")
    return name


def nats_msg_id(subject: str, data: bytes) -> str:
    """The ``Nats-Msg-Id`` of ``data`` published on ``subject`` (see the module)."""
    name = family(subject)
    try:
        encoded = subject.encode("ascii")
    except UnicodeEncodeError:
        raise ValueError(f"subject is not ASCII: {subject!r}") from None
    if len(encoded) > MAX_SUBJECT:
        raise ValueError("subject too long")
    digest = hashlib.blake2b(digest_size=DIGEST_SIZE)
    digest.update(LABEL)
    digest.update(len(encoded).to_bytes(2, "big"))
    digest.update(encoded)
    digest.update(data)
    return f"{name}-{digest.hexdigest()}"
