"""The ``exec`` handler: run a local command with the item JSON on its stdin.

1. No shell: ``command`` is an argv list; its first element is looked up once, when the
   handler is built, on the fixed ``PATH`` below (or taken relative to the config
   directory when it contains a ``/``).
2. A clean environment: ``PATH`` (fixed), the node's variables named in ``env_allow``,
   and ``LALI_MESSAGE_ID``, ``LALI_ITEM_KIND``, ``LALI_TOPIC``, ``LALI_TLP``,
   ``LALI_PRIORITY``, ``LALI_SENDER`` and ``LALI_INSTANCE`` (identifiers only). Nothing
   else of the node's environment (keys, passphrases) reaches the command.
3. The command runs in a new session (its own process group). When it finishes, times
   out, or the handler is cancelled (the runner's timeout, a shutdown), the whole group
   is sent SIGKILL, so neither the command nor anything it started outlives the call.
   (Only a node killed outright cannot do this; the item then runs again after restart.)
4. stdout is discarded. stderr is read and counted but never kept, logged or put into
   the error: it may repeat alert content. A non-zero exit raises :class:`HandlerError`
   with the exit status and the stderr byte count only; exit statuses listed in
   ``permanent_exit_codes`` raise :class:`PermanentHandlerError` (no retry).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import signal
from pathlib import Path
from typing import Annotated, ClassVar, Self

from pydantic import AfterValidator, Field

from node.handlers.base import (
    Context,
    HandlerEnv,
    HandlerError,
    HandlerSettings,
    HandlerSpec,
    Item,
    PermanentHandlerError,
)
from schemas.errors import ConfigError

__all__ = ["SAFE_PATH", "ExecHandler"]

SAFE_PATH = "/usr/local/bin:/usr/bin:/bin"
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
_READ_CHUNK = 65536


def _check_env_names(names: list[str]) -> list[str]:
    for name in names:
        if not _ENV_NAME.match(name):
            raise ValueError("env_allow holds names of environment variables only")
        if name == "PATH" or name.startswith("LALI_"):
            raise ValueError("PATH and LALI_* are set by the handler, not passed through")
    return names


class ExecHandler:
    """Run one configured command per item, with the item JSON on stdin."""

    spec: ClassVar[HandlerSpec] = HandlerSpec(
        name="exec",
        description="run a local command (no shell) with the item JSON on stdin",
        external=True,
    )

    class Settings(HandlerSettings):
        command: list[Annotated[str, Field(min_length=1)]] = Field(min_length=1)
        env_allow: Annotated[list[str], AfterValidator(_check_env_names)] = Field(
            default_factory=list
        )
        cwd: Path | None = None  # default: the node's state directory
        command_timeout_s: float = Field(default=30.0, gt=0, le=3600)
        permanent_exit_codes: list[Annotated[int, Field(ge=1, le=255)]] = Field(
            default_factory=list
        )

    def __init__(self, settings: Settings, argv: list[str], cwd: Path) -> None:
        self._settings = settings
        self._argv = argv
        self._cwd = cwd
        self._name = Path(argv[0]).name

    @classmethod
    def from_settings(cls, settings: Settings, env: HandlerEnv) -> Self:
        program = settings.command[0]
        if "/" in program:
            path = env.path(Path(program))
            resolved = str(path) if path.is_file() and os.access(path, os.X_OK) else None
        else:
            resolved = shutil.which(program, path=SAFE_PATH)
        if resolved is None:
            raise ConfigError("command not found or not executable", command=program)
        cwd = env.path(settings.cwd) if settings.cwd is not None else env.state_dir
        if settings.cwd is not None and not cwd.is_dir():
            raise ConfigError("exec cwd is not a directory", path=str(cwd))
        return cls(settings, [resolved, *settings.command[1:]], cwd)

    def _environment(self, item: Item, ctx: Context) -> dict[str, str]:
        env = {name: os.environ[name] for name in self._settings.env_allow if name in os.environ}
        env.update(
            PATH=SAFE_PATH,
            LALI_MESSAGE_ID=item.message_id,
            LALI_ITEM_KIND=item.kind,
            LALI_TOPIC=item.topic.value,
            LALI_TLP=item.tlp.value,
            LALI_PRIORITY=item.priority.value,
            LALI_SENDER=item.sender,
            LALI_INSTANCE=ctx.instance,
        )
        return env

    async def __call__(self, item: Item, ctx: Context) -> None:
        timeout = self._settings.command_timeout_s
        try:
            proc = await self._spawn(self._environment(item, ctx))
        except OSError as exc:
            raise HandlerError(
                "command could not be started", command=self._name, errno=exc.errno
            ) from None
        try:
            async with asyncio.timeout(timeout):
                _, stderr_bytes = await asyncio.gather(
                    _feed(proc, item.to_json()), _count(proc.stderr)
                )
                code = await proc.wait()
        except TimeoutError:
            raise HandlerError("command timed out", command=self._name, timeout_s=timeout) from None
        finally:
            await _kill_group(proc)
        if code != 0:
            fields = {"command": self._name, "exit_code": code, "stderr_bytes": stderr_bytes}
            if code < 0:
                raise HandlerError(f"command killed by signal {-code}", **fields)
            if code in self._settings.permanent_exit_codes:
                raise PermanentHandlerError(f"command exited with status {code}", **fields)
            raise HandlerError(f"command exited with status {code}", **fields)
        await ctx.audit("exec_done", {"command": self._name, "exit_code": code})

    async def _spawn(self, env: dict[str, str]) -> asyncio.subprocess.Process:
        spawn = asyncio.ensure_future(
            asyncio.create_subprocess_exec(
                *self._argv,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE,
                cwd=self._cwd,
                env=env,
                start_new_session=True,  # its own process group, killed as one
                close_fds=True,
            )
        )
        try:
            return await asyncio.shield(spawn)
        except asyncio.CancelledError:
            # Cancelled while starting: the child may already run. Let the start finish,
            # then kill it, so that cancellation never leaves a process behind.
            with contextlib.suppress(OSError):
                await _kill_group(await asyncio.shield(spawn))
            raise

    async def aclose(self) -> None:
        return None


async def _feed(proc: asyncio.subprocess.Process, data: bytes) -> None:
    stdin = proc.stdin
    assert stdin is not None
    # A command may exit without reading its input; its exit status says how it went.
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        stdin.write(data)
        await stdin.drain()
    stdin.close()


async def _count(stream: asyncio.StreamReader | None) -> int:
    assert stream is not None
    total = 0
    while chunk := await stream.read(_READ_CHUNK):
        total += len(chunk)
    return total


async def _kill_group(proc: asyncio.subprocess.Process) -> None:
    """SIGKILL the command's process group and reap the command.

    Runs on every exit path, cancellation included. Its process group id is its pid,
    and Linux does not reuse a pid while a group of that id has members, so this
    cannot hit an unrelated group while anything the command started is still alive.
    """
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    if proc.returncode is None:
        # Shielded: if we are cancelled again here, the reaping still completes.
        await asyncio.shield(proc.wait())
