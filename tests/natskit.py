"""Helpers for tests that run nats-server with the deploy/ configs."""

from __future__ import annotations

import re

from node.natsconfig import new_user_nkey

__all__ = ["example_nkey", "new_user_nkey"]


def example_nkey(text: str, code: str) -> str:
    """The example public key of the user whose first permission is ``code``'s subject."""
    match = re.search(
        r'nkey: "(U[A-Z2-7]{55})"\s+permissions: \{\s+publish: \{\s+allow: \[\s+'
        + re.escape(f'"lali.alert.*.{code}"'),
        text,
    )
    assert match, f"no user block for {code}"
    return match.group(1)
