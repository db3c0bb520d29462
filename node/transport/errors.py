"""nats-py exceptions become ``TransportError`` here: the one boundary."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import nats.errors
import nats.js.errors

from schemas.errors import TransportError

CLOSE_STEP_S = 6.0  # each step of closing a connection is bounded by this


@contextmanager
def nats_errors(action: str) -> Iterator[None]:
    try:
        yield
    except nats.js.errors.APIError as exc:
        raise TransportError(
            f"{action} refused by the server: {exc.description or exc}",
            code=exc.code,
            err_code=exc.err_code,
        ) from exc
    except (TimeoutError, nats.errors.Error, OSError) as exc:
        raise TransportError(f"{action} failed: {type(exc).__name__}: {exc}") from exc
