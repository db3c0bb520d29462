"""``lali handlers``: what is configured, trying a route, and the failed-work list."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from node.cli.common import fail, read_alert_file
from node.config import NodeSettings
from node.handlers.base import Context, HandlerEnv, HandlerError, Hit, Item
from node.handlers.instances import build_instances
from node.handlers.registry import available
from node.handlers.routing import Facts, matches, permits
from node.storage.database import Database, utc_now_text
from schemas.alert import parse_alert
from schemas.errors import ConfigError, LaliError

app = typer.Typer(help="Automated inbound handlers (docs/handlers.md).", no_args_is_help=True)
Config = Annotated[Path, typer.Option("--config", "-c", help="node.toml")]


def _settings(config: Path) -> NodeSettings:
    try:
        return NodeSettings.load(config)
    except LaliError as exc:
        raise fail(exc) from exc


@app.command("list")
def list_handlers(config: Config) -> None:
    """Show handler instances (type, policy, limits), routes, and work per instance.

    Example: lali handlers list --config node.toml
    """
    s = _settings(config)
    try:
        instances = build_instances(s.handlers)
    except LaliError as exc:
        raise fail(exc) from exc
    counts: dict[tuple[str, str], int] = {}
    if s.database.exists():
        counts = asyncio.run(_counts(s.database))
    if not instances:
        typer.echo(f"no handlers configured (types available: {', '.join(sorted(available()))})")
    for name, inst in instances.items():
        limit = inst.ceiling.value if inst.ceiling else "nothing (no max_tlp: refuses all)"
        work = ", ".join(
            f"{state} {counts.get((name, state), 0)}" for state in ("pending", "done", "failed")
        )
        c = inst.config
        typer.echo(
            f"{name:16} type={c.type} external={'yes' if inst.spec.external else 'no'}"
            f" receives up to {limit}; timeout {c.timeout_s:g} s, {c.attempts} attempts,"
            f" {c.workers} worker(s), queue {c.queue}; {work}"
        )
    for route in s.routes:
        m = route.match.model_dump(exclude_defaults=True)
        when = " ".join(f"{k}={v}" for k, v in m.items()) or "everything"
        typer.echo(
            f"route {route.name}: on {route.match.on}; {when} -> {', '.join(route.handlers)}"
        )


async def _counts(path: Path) -> dict[tuple[str, str], int]:
    db = await Database.open(path)
    try:
        rows = await db.fetchall(
            "SELECT instance, state, COUNT(*) FROM handler_jobs GROUP BY instance, state"
        )
    finally:
        await db.close()
    return {(r[0], r[1]): int(r[2]) for r in rows}


@app.command("test")
def test_route(
    route: Annotated[str, typer.Argument(help="a route name from node.toml")],
    alert_file: Annotated[Path, typer.Argument(help="an alert JSON file")],
    config: Config,
    sender: Annotated[str, typer.Option(help="pretend this member sent it")] = "XX",
) -> None:
    """Run one route's handlers on a local alert file, now, with their real settings.

    The TLP policy applies as in the node. Nothing is written to the node database;
    audit entries and hits are printed instead.

    Example: lali handlers test check-everything schemas/examples/valid/maritime.json \\
        -c demo-data/TO/node.toml
    """
    s = _settings(config)
    try:
        wanted = next((r for r in s.routes if r.name == route), None)
        if wanted is None:
            names = ", ".join(r.name for r in s.routes) or "none"
            raise ConfigError(f"no route {route!r} in {config} (its routes: {names})")
        instances = build_instances({n: s.handlers[n] for n in wanted.handlers})
    except LaliError as exc:
        raise fail(exc) from exc
    try:
        alert = parse_alert(read_alert_file(alert_file), now=datetime.now(UTC))
    except LaliError as exc:
        raise fail(exc, about=alert_file) from exc
    if not matches(wanted, Facts.of("alert", sender, alert)):
        typer.echo(f"note: route {route} would not match this alert in the node")
    item = Item(
        kind="alert",
        message_id=str(uuid.uuid4()),
        sender=sender,
        topic=alert.topic,
        tlp=alert.tlp,
        priority=alert.priority,
        received_at=datetime.now(UTC),
        alert=alert,
    )
    env = HandlerEnv(s.code, s.config_dir, s.database.parent / f"{s.database.stem}-handlers")
    failures = asyncio.run(_run_route(instances, route, item, env, s.code))
    raise typer.Exit(1 if failures else 0)


async def _run_route(
    instances: dict[str, Any], route: str, item: Item, env: HandlerEnv, code: str
) -> int:
    failures = 0
    hits = 0

    async def audit(action: str, detail: Any) -> None:
        typer.echo(f"  audit {action} {json.dumps(detail, sort_keys=True, default=str)}")

    async def raise_hit(hit: Hit) -> Hit:
        nonlocal hits
        hits += 1
        typer.echo(f"  hit {json.dumps(hit.as_dict(), sort_keys=True)}")
        return Hit(hit.list_entry, hit.entity, hit.score, hit.fields, hits)

    for name, inst in instances.items():
        if not permits(inst.ceiling, item.tlp):
            limit = inst.ceiling.value if inst.ceiling else "no max_tlp"
            typer.echo(f"{name}: refused by policy ({item.tlp.value} above {limit})")
            continue
        handler = inst.cls.from_settings(inst.settings, env)
        ctx = Context(code, name, route, 1, datetime.now(UTC), audit, raise_hit)
        started = time.monotonic()
        try:
            await asyncio.wait_for(handler(item, ctx), inst.config.timeout_s)
            typer.echo(f"{name}: ok in {(time.monotonic() - started) * 1000:.0f} ms")
        except TimeoutError:
            failures += 1
            typer.secho(f"{name}: timed out after {inst.config.timeout_s:g} s", fg="red")
        except HandlerError as exc:
            failures += 1
            typer.secho(f"{name}: failed ({exc.reason}): {exc.message}", fg="red")
        except Exception as exc:
            failures += 1
            typer.secho(f"{name}: failed with {type(exc).__name__}", fg="red")
        finally:
            await handler.aclose()
    return failures


@app.command("failed")
def failed(config: Config) -> None:
    """List handler work whose attempts ran out (the handlers' dead-letter list).

    Example: lali handlers failed --config node.toml
    """
    s = _settings(config)
    if not s.database.exists():
        typer.echo("nothing failed (no database yet)")
        return
    rows = asyncio.run(_failed_rows(s.database))
    if not rows:
        typer.echo("nothing failed")
    for r in rows:
        typer.echo(
            f"{r[0]:>6}  {r[1]}  {r[2]:12} {r[3]}{'' if r[4] == 'alert' else ' (hit)'}"
            f"  attempts={r[5]}  last={r[6]}  error: {r[7]}"
        )


async def _failed_rows(path: Path) -> list[Any]:
    db = await Database.open(path)
    try:
        return await db.fetchall(
            "SELECT id, updated_at, instance, message_id, kind, attempts, updated_at, last_error"
            " FROM handler_jobs WHERE state = 'failed' ORDER BY id"
        )
    finally:
        await db.close()


@app.command("retry")
def retry(
    config: Config,
    job: Annotated[list[int] | None, typer.Argument(help="job ids from `handlers failed`")] = None,
    all_failed: Annotated[bool, typer.Option("--all", help="every failed job")] = False,
    instance: Annotated[str | None, typer.Option(help="only this instance's")] = None,
) -> None:
    """Queue failed handler work again (a running node picks it up within seconds).

    Example: lali handlers retry --config node.toml 12 13 ; lali handlers retry -c node.toml --all
    """
    s = _settings(config)
    if not job and not all_failed:
        raise typer.BadParameter("name job ids, or pass --all")
    if not s.database.exists():
        typer.echo("nothing to retry (no database yet)")
        return
    try:
        count = asyncio.run(_retry(s.database, job or [], instance))
    except LaliError as exc:
        raise fail(exc) from exc
    typer.echo(f"queued {count} job(s) again")


async def _retry(path: Path, ids: list[int], instance: str | None) -> int:
    db = await Database.open(path)
    try:
        sql = "SELECT id, message_id, instance FROM handler_jobs WHERE state = 'failed'"
        params: list[Any] = []
        if ids:
            sql += f" AND id IN ({', '.join('?' * len(ids))})"
            params += ids
        if instance:
            sql += " AND instance = ?"
            params.append(instance)
        now = datetime.now(UTC)
        async with db.transaction() as tx:
            rows = await tx.fetchall(sql, tuple(params))
            for job_id, message_id, name in rows:
                await tx.execute(
                    "UPDATE handler_jobs SET state = 'pending', attempts = 0, next_at = ?,"
                    " updated_at = ? WHERE id = ?",
                    (utc_now_text(now), utc_now_text(now), job_id),
                )
                await tx.audit(
                    "handler_retry",
                    at=now,
                    message_id=message_id,
                    detail=json.dumps({"instance": name, "job": job_id}, sort_keys=True),
                )
        return len(rows)
    finally:
        await db.close()
