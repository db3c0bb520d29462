"""The ``stix`` handler: an item as a STIX 2.1 bundle (see ``stix_bundle.py`` for the
mapping), written to a spool directory or posted to a MISP instance's STIX 2 import."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any, ClassVar, Literal, Self

import httpx
import stix2  # type: ignore[import-untyped]
from pydantic import Field, model_validator

from node.handlers.base import (
    Context,
    HandlerEnv,
    HandlerError,
    HandlerSettings,
    HandlerSpec,
    Item,
    PermanentHandlerError,
)
from node.handlers.builtin.spool import FileMode, remove_stale_temp, spool_name, write_file_atomic
from node.handlers.builtin.stix_bundle import LALI_EXTENSION_ID, TLP_MARKING_IDS, to_stix_bundle
from node.handlers.builtin.webhook import check_http_url, make_client, post, read_secret_file
from schemas.errors import ConfigError

__all__ = [
    "LALI_EXTENSION_ID",
    "MISP_UPLOAD_PATH",
    "TLP_MARKING_IDS",
    "StixHandler",
    "to_stix_bundle",
]

MISP_UPLOAD_PATH = "/events/upload_stix/2"  # MISP's STIX 2 import (PyMISP upload_stix)


class StixHandler:
    """Convert each item to a STIX 2.1 bundle; spool it to a directory or post it to MISP."""

    spec: ClassVar[HandlerSpec] = HandlerSpec(
        name="stix",
        description="STIX 2.1 bundle (TLP 2.0 marked) to a spool directory or a MISP instance",
        external=True,
    )

    class Settings(HandlerSettings):
        output: Literal["spool", "misp"]
        spool_dir: Path | None = None
        file_mode: FileMode = 0o600
        misp_url: str | None = None  # base URL; the bundle goes to <misp_url>/events/upload_stix/2
        misp_key_file: Path | None = None
        request_timeout_s: float = Field(default=30.0, gt=0, le=600)
        ca_file: Path | None = None
        proxy: str | None = None
        allow_insecure_http: bool = False

        @model_validator(mode="after")
        def _output_complete(self) -> Self:
            if self.output == "spool" and self.spool_dir is None:
                raise ValueError("output 'spool' needs spool_dir")
            if self.output == "misp":
                if self.misp_url is None or self.misp_key_file is None:
                    raise ValueError("output 'misp' needs misp_url and misp_key_file")
                check_http_url(self.misp_url, self.allow_insecure_http)
            return self

    def __init__(self, settings: Settings, env: HandlerEnv) -> None:
        self._settings = settings
        self._receiver = env.code
        self._spool: Path | None = None
        self._client: httpx.AsyncClient | None = None
        self._key = ""
        self._url = ""
        if settings.output == "spool":
            assert settings.spool_dir is not None
            self._spool = env.path(settings.spool_dir)
            if not self._spool.is_dir():
                raise ConfigError("stix spool directory does not exist", path=str(self._spool))
            remove_stale_temp(self._spool)
        else:
            assert settings.misp_url is not None and settings.misp_key_file is not None
            key = read_secret_file(env.path(settings.misp_key_file), "MISP API key")
            if not key.isascii():
                raise ConfigError("the MISP API key file must hold an ASCII key")
            self._key = key.decode("ascii")
            self._url = settings.misp_url.rstrip("/") + MISP_UPLOAD_PATH
            ca_file = env.path(settings.ca_file) if settings.ca_file is not None else None
            self._client = make_client(settings.request_timeout_s, ca_file, settings.proxy)

    @classmethod
    def from_settings(cls, settings: Settings, env: HandlerEnv) -> Self:
        return cls(settings, env)

    async def __call__(self, item: Item, ctx: Context) -> None:
        try:
            # CPU work (object validation, pattern parsing): keep it off the event loop.
            bundle = await asyncio.to_thread(to_stix_bundle, item, self._receiver)
        except (stix2.exceptions.STIXError, ValueError) as exc:
            # Not retried: the same item converts the same way every time.
            raise PermanentHandlerError(
                "STIX conversion failed", error=type(exc).__name__
            ) from None
        body = json.dumps(bundle, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        data = body.encode("utf-8")
        if self._spool is not None:
            name = spool_name(item, ".stix.json")
            try:
                written = await asyncio.to_thread(
                    write_file_atomic, self._spool, name, data + b"\n", self._settings.file_mode
                )
            except OSError as exc:
                raise HandlerError("STIX spool write failed", errno=exc.errno) from None
            detail: dict[str, Any] = {"file": name, "written": written}
        else:
            assert self._client is not None
            headers = {
                "Authorization": self._key,
                "Accept": "application/json",
                "Content-Type": "application/json",
            }
            status = await post(self._client, self._url, data, headers)
            detail = {"host": httpx.URL(self._url).host, "status": status}
        await ctx.audit("stix_exported", {"bundle": bundle["id"], **detail})

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
