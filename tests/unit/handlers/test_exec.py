"""The exec handler with real child processes: stdin, environment, exit status, and the
process group killed on timeout and on cancellation."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from handlerkit import AuditLog, example_item, fake_ctx
from pydantic import ValidationError

from node.handlers.base import Context, HandlerEnv, HandlerError, Item, PermanentHandlerError
from node.handlers.builtin.exec import SAFE_PATH, ExecHandler
from schemas.errors import ConfigError

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
# Each command gets its output path as "$1" (sh -c SCRIPT sh PATH).
PIDS_TO_FIFO = 'sleep 120 & echo "$$ $!" > "$1"; wait'


def make_item(name: str = "identity_fraud.json") -> Item:
    return example_item(name, NOW)


def make_ctx(audit: AuditLog) -> Context:
    return fake_ctx(audit, "exec-test", NOW)


def build(tmp_path: Path, **settings: Any) -> ExecHandler:
    env = HandlerEnv(code="FJ", config_dir=tmp_path, state_dir=tmp_path)
    return ExecHandler.from_settings(ExecHandler.Settings.model_validate(settings), env)


async def test_command_receives_the_item_json_on_stdin(tmp_path: Path) -> None:
    out = tmp_path / "stdin.json"
    handler = build(tmp_path, command=["sh", "-c", 'cat > "$1"', "sh", str(out)])
    item, audit = make_item(), AuditLog()
    await handler(item, make_ctx(audit))
    assert out.read_bytes() == item.to_json()
    assert audit.entries == [("exec_done", {"command": "sh", "exit_code": 0})]


async def test_environment_is_clean(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HANDLER_TEST_LEAK", "node-secret")
    monkeypatch.setenv("HANDLER_TEST_ALLOWED", "yes")
    out = tmp_path / "environ"
    # /proc/self/environ is the block the command was started with (Python's own locale
    # coercion at start-up does not show there).
    script = "import sys; open(sys.argv[1], 'wb').write(open('/proc/self/environ', 'rb').read())"
    handler = build(
        tmp_path,
        command=[sys.executable, "-c", script, str(out)],
        env_allow=["HANDLER_TEST_ALLOWED", "HANDLER_TEST_ABSENT"],
    )
    item = make_item()
    await handler(item, make_ctx(AuditLog()))
    env = dict(v.split("=", 1) for v in out.read_text().split("\0") if v)
    assert "HANDLER_TEST_LEAK" not in env
    assert env == {
        "PATH": SAFE_PATH,
        "HANDLER_TEST_ALLOWED": "yes",
        "LALI_MESSAGE_ID": item.message_id,
        "LALI_ITEM_KIND": "alert",
        "LALI_TOPIC": "identity_fraud",
        "LALI_TLP": item.tlp.value,
        "LALI_PRIORITY": item.priority.value,
        "LALI_SENDER": "WS",
        "LALI_INSTANCE": "exec-test",
    }


async def test_working_directory_is_settable(tmp_path: Path) -> None:
    (tmp_path / "work").mkdir()
    out = tmp_path / "pwd"
    handler = build(tmp_path, command=["sh", "-c", 'pwd > "$1"', "sh", str(out)], cwd="work")
    await handler(make_item(), make_ctx(AuditLog()))
    assert out.read_text().strip() == str(tmp_path / "work")


async def test_non_zero_exit_is_a_transient_error_without_stderr(tmp_path: Path) -> None:
    handler = build(tmp_path, command=["sh", "-c", "echo TN4827193 >&2; exit 3"])
    audit = AuditLog()
    with pytest.raises(HandlerError) as info:
        await handler(make_item(), make_ctx(audit))
    assert not isinstance(info.value, PermanentHandlerError)
    assert info.value.fields == {"command": "sh", "exit_code": 3, "stderr_bytes": 10}
    assert "TN4827193" not in str(info.value)
    assert audit.entries == []


async def test_listed_exit_code_is_permanent(tmp_path: Path) -> None:
    handler = build(tmp_path, command=["sh", "-c", "exit 65"], permanent_exit_codes=[65])
    with pytest.raises(PermanentHandlerError) as info:
        await handler(make_item(), make_ctx(AuditLog()))
    assert info.value.fields["exit_code"] == 65


def test_unknown_command_is_refused_when_built(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        build(tmp_path, command=["no-such-command-lali"])
    with pytest.raises(ConfigError):
        build(tmp_path, command=["bin/missing.sh"])


@pytest.mark.parametrize("name", ["PATH", "LALI_TOKEN", "A B", ""])
def test_env_allow_refuses_reserved_or_odd_names(name: str) -> None:
    with pytest.raises(ValidationError):
        ExecHandler.Settings(command=["true"], env_allow=[name])


@contextlib.asynccontextmanager
async def fifo_reader(path: Path) -> AsyncIterator[asyncio.StreamReader]:
    """Read what a child writes into a FIFO. Opened read-write, so neither our open nor
    the child's blocks and we never see end-of-file before the child has written."""
    os.mkfifo(path)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    pipe = os.fdopen(os.open(path, os.O_RDWR | os.O_NONBLOCK), "rb", buffering=0)
    transport, _ = await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), pipe)
    try:
        yield reader
    finally:
        transport.close()


async def read_pids(reader: asyncio.StreamReader) -> list[int]:
    line = await asyncio.wait_for(reader.readline(), timeout=20)
    return [int(p) for p in line.split()]


def reaped(pid: int) -> bool:
    return not Path(f"/proc/{pid}").exists()


def watch_exit(pid: int) -> int | None:
    """A pidfd for ``pid`` (readable once it has exited), or None if it is gone already."""
    try:
        return os.pidfd_open(pid)
    except ProcessLookupError:
        return None


async def wait_exited(pidfd: int | None) -> None:
    if pidfd is None:
        return
    loop = asyncio.get_running_loop()
    exited = loop.create_future()
    loop.add_reader(pidfd, lambda: exited.done() or exited.set_result(None))
    try:
        await asyncio.wait_for(exited, timeout=10)
    finally:
        loop.remove_reader(pidfd)
        os.close(pidfd)


async def test_timeout_kills_the_whole_process_group(tmp_path: Path) -> None:
    fifo = tmp_path / "pids"
    handler = build(
        tmp_path, command=["sh", "-c", PIDS_TO_FIFO, "sh", str(fifo)], command_timeout_s=1.0
    )
    async with fifo_reader(fifo) as reader:
        task = asyncio.create_task(handler(make_item(), make_ctx(AuditLog())))
        shell, sleeper = await read_pids(reader)
        watches = [watch_exit(shell), watch_exit(sleeper)]
        with pytest.raises(HandlerError, match="timed out"):
            await task
    # The shell was reaped by the handler; the sleep it started was killed with it.
    assert reaped(shell)
    for watch in watches:
        await wait_exited(watch)


async def test_cancellation_kills_the_whole_process_group(tmp_path: Path) -> None:
    fifo = tmp_path / "pids"
    handler = build(tmp_path, command=["sh", "-c", PIDS_TO_FIFO, "sh", str(fifo)])
    audit = AuditLog()
    async with fifo_reader(fifo) as reader:
        task = asyncio.create_task(handler(make_item(), make_ctx(audit)))
        shell, sleeper = await read_pids(reader)
        watches = [watch_exit(shell), watch_exit(sleeper)]
        assert None not in watches  # both were running when we cancelled
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert reaped(shell)
    for watch in watches:
        await wait_exited(watch)
    assert audit.entries == []
