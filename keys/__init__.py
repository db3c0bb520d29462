"""Identities, key files and the signed member directory (the trust root)."""

from keys.directory import Directory, DirectoryKey, KeyUse, Member, Role, RootEntry
from keys.identity import Identity, RootKey
from keys.ids import key_id
from keys.store import (
    KdfParams,
    load_identity,
    load_root_key,
    save_identity,
    save_root_key,
)
from keys.verify import (
    DIRECTORY_LABEL,
    DIRECTORY_PAYLOAD_TYPE,
    MAX_DIRECTORY_SIZE,
    RootSet,
    sign_directory,
    verify_directory,
    verify_directory_update,
)

__all__ = [
    "DIRECTORY_LABEL",
    "DIRECTORY_PAYLOAD_TYPE",
    "MAX_DIRECTORY_SIZE",
    "Directory",
    "DirectoryKey",
    "Identity",
    "KdfParams",
    "KeyUse",
    "Member",
    "Role",
    "RootEntry",
    "RootKey",
    "RootSet",
    "key_id",
    "load_identity",
    "load_root_key",
    "save_identity",
    "save_root_key",
    "sign_directory",
    "verify_directory",
    "verify_directory_update",
]
