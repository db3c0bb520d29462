"""keys.files: the one atomic, durable file replace, on a real file system."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from keys.files import TEMP_SUFFIX, atomic_path, write_atomic


@pytest.fixture
def umask() -> Iterator[None]:
    """Restore the process umask whatever a test sets it to."""
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def names(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


class Boom(Exception):
    pass


@pytest.mark.usefixtures("umask")
@pytest.mark.parametrize(
    ("mask", "mode"),
    [
        (0o077, 0o640),  # the umask would take the group's read bit away
        (0o000, 0o600),  # ... or leave bits the caller did not ask for
        (0o022, 0o660),
        (0o777, 0o600),
    ],
)
def test_creates_with_exactly_the_mode_asked_for(tmp_path: Path, mask: int, mode: int) -> None:
    os.umask(mask)
    target = tmp_path / "file"
    write_atomic(target, b"data", mode)
    assert target.read_bytes() == b"data"
    assert mode_of(target) == mode


def test_the_default_mode_is_private(tmp_path: Path) -> None:
    target = tmp_path / "secret"
    write_atomic(target, b"k")
    assert mode_of(target) == 0o600


def test_replaces_the_content_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    target = tmp_path / "file"
    target.write_bytes(b"old content, longer than the new one")
    write_atomic(target, b"new", 0o640)
    assert target.read_bytes() == b"new"
    assert mode_of(target) == 0o640
    assert names(tmp_path) == ["file"]


def test_large_and_empty_contents_are_written_whole(tmp_path: Path) -> None:
    big = os.urandom(3 << 20)
    write_atomic(tmp_path / "big", big)
    write_atomic(tmp_path / "empty", b"")
    assert (tmp_path / "big").read_bytes() == big
    assert (tmp_path / "empty").read_bytes() == b""
    assert names(tmp_path) == ["big", "empty"]


def test_exclusive_creates_a_new_file(tmp_path: Path) -> None:
    target = tmp_path / "key"
    write_atomic(target, b"first", exclusive=True)
    assert target.read_bytes() == b"first"
    assert names(tmp_path) == ["key"]


def test_exclusive_refuses_an_existing_target_and_leaves_it_untouched(tmp_path: Path) -> None:
    target = tmp_path / "key"
    target.write_bytes(b"precious")
    target.chmod(0o400)
    with pytest.raises(FileExistsError):
        write_atomic(target, b"clobber", exclusive=True)
    assert target.read_bytes() == b"precious"
    assert mode_of(target) == 0o400
    assert names(tmp_path) == ["key"]


def test_exclusive_refuses_even_a_dangling_symlink(tmp_path: Path) -> None:
    target = tmp_path / "key"
    target.symlink_to(tmp_path / "elsewhere")
    with pytest.raises(FileExistsError):
        write_atomic(target, b"data", exclusive=True)
    assert not (tmp_path / "elsewhere").exists()
    assert names(tmp_path) == ["key"]


def test_a_symlink_at_the_target_is_replaced_not_written_through(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_bytes(b"not yours")
    target = tmp_path / "file"
    target.symlink_to(victim)
    write_atomic(target, b"data")
    assert not target.is_symlink()
    assert target.read_bytes() == b"data"
    assert victim.read_bytes() == b"not yours"


@pytest.mark.parametrize("existing", [True, False], ids=["over-a-file", "new-file"])
def test_an_error_while_filling_changes_nothing(tmp_path: Path, existing: bool) -> None:
    target = tmp_path / "file"
    if existing:
        target.write_bytes(b"old")
    with pytest.raises(Boom), atomic_path(target, 0o600) as tmp:
        tmp.write_bytes(b"half of the new")
        raise Boom
    assert names(tmp_path) == (["file"] if existing else [])
    if existing:
        assert target.read_bytes() == b"old"


def test_a_failed_rename_changes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "file"
    target.write_bytes(b"old")

    def no_space(src: object, dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", no_space)
    with pytest.raises(OSError, match="No space left"):
        write_atomic(target, b"new")
    assert target.read_bytes() == b"old"
    assert names(tmp_path) == ["file"]


def test_the_temporary_file_is_hidden_beside_the_target(tmp_path: Path) -> None:
    target = tmp_path / "list.sqlite"
    with atomic_path(target, 0o640) as tmp:
        # Same directory (so the rename is atomic), hidden, and named so a clean-up can
        # recognise it; already with its final mode while it is being filled.
        assert tmp.parent == tmp_path
        assert tmp.name.startswith(".list.sqlite.")
        assert tmp.name.endswith(TEMP_SUFFIX)
        assert mode_of(tmp) == 0o640
        tmp.write_bytes(b"filled by the caller")
    assert target.read_bytes() == b"filled by the caller"
    assert names(tmp_path) == ["list.sqlite"]
