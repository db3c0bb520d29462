"""hub.toml: documented, loaded with paths resolved, strict."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from node.hub.settings import HubSettings
from schemas.errors import ConfigError

EXAMPLE = Path(__file__).resolve().parents[2] / "deploy" / "hub.example.toml"


def test_example_documents_every_setting() -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    for name in HubSettings.model_fields:
        match = re.search(rf"^# .*\n(# )?{name} = ", text, re.MULTILINE)
        assert match, f"{name} is not documented in hub.example.toml"


def test_example_loads() -> None:
    settings = HubSettings.load(EXAMPLE)
    assert settings.node == Path("/etc/lali/node.toml")
    assert settings.console_host == "127.0.0.1"
    assert not settings.cookie_secure


def test_relative_paths_and_defaults(tmp_path: Path) -> None:
    conf = tmp_path / "hub.toml"
    conf.write_text('node = "node.toml"\n')
    settings = HubSettings.load(conf)
    assert settings.node == tmp_path / "node.toml"
    assert settings.password_file == tmp_path / "console-passwd.json"


@pytest.mark.parametrize(
    "text",
    [
        'node = "n.toml"\nconsole_prot = 1\n',
        "console_port = 1\n",
        'node = "n"\nname_similarity = 10\n',
    ],
)
def test_mistakes_are_refused(tmp_path: Path, text: str) -> None:
    conf = tmp_path / "hub.toml"
    conf.write_text(text)
    with pytest.raises(ConfigError):
        HubSettings.load(conf)
