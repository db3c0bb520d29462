"""Helpers for tests that run nats-server with the deploy/ configs."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from node.ops.natsconfig import new_user_nkey
from node.ops.natsserver import nats_server_binary

__all__ = ["example_nkey", "nats_config_test", "new_user_nkey", "replace_once"]


def replace_once(text: str, old: str, new: str) -> str:
    """Replace ``old`` exactly once, so that a test edit cannot silently miss."""
    assert text.count(old) == 1, f"expected exactly one {old!r} in the file"
    return text.replace(old, new)


def nats_config_test(conf: Path) -> subprocess.CompletedProcess[str]:
    """``nats-server -c CONF -t``: the server's own check of a config file."""
    return subprocess.run(
        [str(nats_server_binary()), "-c", str(conf), "-t"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def example_nkey(text: str, code: str) -> str:
    """The example public key of the user whose first permission is ``code``'s subject."""
    match = re.search(
        r'nkey: "(U[A-Z2-7]{55})"\s+permissions: \{\s+publish: \{\s+allow: \[\s+'
        + re.escape(f'"lali.alert.*.{code}"'),
        text,
    )
    assert match, f"no user block for {code}"
    return match.group(1)
