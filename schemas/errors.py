"""Typed errors for the whole project, grouped by who is at fault.

Every error carries a short machine-readable ``reason`` (used in audit entries and
metrics) and optional structured ``fields`` for logs. Messages never contain plaintext
alert content or key material.
"""

from __future__ import annotations

from typing import Any, ClassVar


class LaliError(Exception):
    """Base of every error Lali raises on purpose."""

    reason: ClassVar[str] = "error"

    def __init__(self, message: str, **fields: Any) -> None:
        super().__init__(message)
        self.message = message
        self.fields: dict[str, Any] = fields

    def __str__(self) -> str:
        return self.message


# --- the peer (or an attacker) is at fault -------------------------------------------


class UntrustedMessage(LaliError):
    """Input from the network that must not be trusted: reject and audit it."""

    reason = "untrusted"


class OversizedMessage(UntrustedMessage):
    reason = "oversized"


class MalformedMessage(UntrustedMessage):
    """The bytes do not follow the wire format (framing, lengths, encodings)."""

    reason = "malformed"


class UnknownKey(UntrustedMessage):
    """A key id that the trusted directory does not hold."""

    reason = "unknown_key"


class KeyNotValid(UntrustedMessage):
    """The key is in the directory but not valid at the time that matters."""

    reason = "key_not_valid"


class KeyRevoked(UntrustedMessage):
    """The key was revoked before the message reached the broker (or us)."""

    reason = "key_revoked"


class BadSignature(UntrustedMessage):
    reason = "bad_signature"


class SenderMismatch(UntrustedMessage):
    """Signing key, declared sender, NATS subject and payload disagree."""

    reason = "sender_mismatch"


class MessageExpired(UntrustedMessage):
    reason = "expired"


class ClockSkew(UntrustedMessage):
    """The message claims a time too far in the future to be believed."""

    reason = "clock_skew"


class DecryptionFailed(UntrustedMessage):
    reason = "decryption_failed"


class DecompressionBomb(UntrustedMessage):
    reason = "decompression_limit"


class SchemaViolation(UntrustedMessage):
    """The payload does not satisfy its pydantic model."""

    reason = "schema_violation"


class Replay(UntrustedMessage):
    reason = "replay"


class NotAddressed(LaliError):
    """A valid message that is simply not for us: count it, do not store it."""

    reason = "not_addressed"


# --- the trust root --------------------------------------------------------------------


class DirectoryError(UntrustedMessage):
    reason = "directory"


class DirectoryUnsigned(DirectoryError):
    reason = "directory_unsigned"


class DirectorySignatureInvalid(DirectoryError):
    reason = "directory_bad_signature"


class DirectoryExpired(DirectoryError):
    reason = "directory_expired"


class DirectoryRollback(DirectoryError):
    reason = "directory_rollback"


# --- our side --------------------------------------------------------------------------


class PolicyViolation(LaliError):
    """A local request that breaks a handling rule (e.g. TLP:RED to ``all``)."""

    reason = "policy"


class TransportError(LaliError):
    reason = "transport"


class StorageError(LaliError):
    reason = "storage"


class ConfigError(LaliError):
    reason = "config"


class KeyFileError(ConfigError):
    """A key file that cannot be read: missing, wrong permissions, bad passphrase."""

    reason = "key_file"


class AuditChainBroken(StorageError):
    """The audit log's hash chain does not verify: edited, deleted or reordered."""

    reason = "audit_chain_broken"

    def __init__(self, message: str, *, seq: int, **fields: Any) -> None:
        super().__init__(message, seq=seq, **fields)
        self.seq = seq
