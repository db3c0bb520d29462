"""``lali directory``: the hub builds and signs the member directory.

The hub keeps an unsigned *draft* (members and their public keys) and signs it into
the directory file that nodes load. Each signing raises the version by one.
"""

import base64
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError

from keys import (
    Directory,
    DirectoryKey,
    Member,
    Role,
    RootEntry,
    RootKey,
    RootSet,
    load_root_key,
    save_root_key,
    verify_directory_update,
)
from keys.verify import merge_signatures, read_signed_file, sign_payload
from node.cli.common import PassFile, fail, read_file, read_passphrase
from node.exchange.trust import parse_root_keys
from schemas.errors import ConfigError, LaliError, PolicyViolation

app = typer.Typer(help="The signed member directory (hub operators).", no_args_is_help=True)

Draft = Annotated[Path, typer.Option(help="unsigned draft kept by the hub")]


def _read_draft(path: Path) -> dict[str, Any]:
    try:
        draft: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"cannot read draft {path}: {exc}") from exc
    return draft


def _write_draft(path: Path, draft: dict[str, Any]) -> None:
    path.write_text(json.dumps(draft, indent=2, sort_keys=True) + "\n", encoding="utf-8")


@app.command("init")
def init(
    root_key: Annotated[Path, typer.Option(help="root key file to create (mode 0600)")],
    draft: Draft,
    passphrase_file: PassFile = None,
) -> None:
    """Create the hub's root key and an empty draft; print the root public key.

    Example: lali directory init --root-key hub-root.key --draft directory.draft.json
    """
    root = RootKey.generate()
    try:
        save_root_key(root_key, root, read_passphrase(passphrase_file))
    except LaliError as exc:
        raise fail(exc) from exc
    _write_draft(draft, {"version": 0, "members": []})
    typer.echo(f"root key {root.kid} written to {root_key}")
    typer.echo('put this in every node.toml as root_keys = ["..."]:')
    typer.echo(base64.b64encode(bytes(root.verify_key)).decode("ascii"))


@app.command("add")
def add(
    draft: Draft,
    public: Annotated[Path, typer.Option(help="JSON from `lali keys export-public`")],
    name: Annotated[str, typer.Option(help="display name, e.g. 'Samoa'")],
    role: Annotated[Role, typer.Option(help="member or hub")] = Role.MEMBER,
    overlap_days: Annotated[
        int, typer.Option(help="after a rotation, keep the old keys valid this long")
    ] = 7,
) -> None:
    """Add a member, or after `lali keys rotate` add its new keys (the old ones stay
    valid for the overlap, so messages in flight still verify and open).

    Example: lali directory add --draft directory.draft.json --public ws.pub.json --name Samoa
    """
    try:
        doc = _read_draft(draft)
        pub = json.loads(public.read_text(encoding="utf-8"))
        keys = [DirectoryKey.model_validate(k) for k in pub["keys"]]
        member = Member(
            code=pub["code"], name=name, role=role, keys=keys, nats_nkey=pub.get("nats_nkey")
        )
    except (OSError, KeyError, json.JSONDecodeError, ValidationError) as exc:
        raise typer.BadParameter(f"{public}: {exc}") from exc
    except LaliError as exc:
        raise fail(exc) from exc
    previous = [m for m in doc["members"] if m["code"] == member.code]
    members = [m for m in doc["members"] if m["code"] != member.code]
    entry = member.model_dump(mode="json")
    if previous:
        new_kids = {k.kid for k in keys}
        ends = datetime.now(UTC) + timedelta(days=overlap_days)
        for old in previous[0]["keys"]:
            if old["kid"] not in new_kids:
                not_after = min(datetime.fromisoformat(old["not_after"]), ends)
                entry["keys"].append({**old, "not_after": not_after.isoformat()})
        if entry.get("nats_nkey") is None:
            entry["nats_nkey"] = previous[0].get("nats_nkey")
    members.append(entry)
    doc["members"] = sorted(members, key=lambda m: m["code"])
    _write_draft(draft, doc)
    typer.echo(f"{member.code} ({name}, {role.value}) in {draft}: {len(members)} members")


@app.command("sign")
def sign(
    root_key: Annotated[
        list[Path], typer.Option(help="root key file; repeat for a threshold of roots")
    ],
    out: Annotated[Path, typer.Option(help="signed directory to write")],
    draft: Annotated[
        Path | None, typer.Option(help="unsigned draft kept by the hub (or --from)")
    ] = None,
    valid_days: Annotated[int, typer.Option(help="days until the directory expires")] = 30,
    passphrase_file: PassFile = None,
    partial: Annotated[
        bool,
        typer.Option(
            "--partial",
            help="write only these signatures even if they fall short of the threshold"
            " the directory declares (merge them with `lali directory merge`)",
        ),
    ] = False,
    from_file: Annotated[
        Path | None,
        typer.Option(
            "--from",
            help="sign the directory in this (partially) signed file as it is, instead"
            " of a new one from --draft (another officer's --partial output)",
        ),
    ] = None,
) -> None:
    """Sign the draft into a directory with the next version number.

    A threshold ceremony, one root key per offline machine: the first officer signs the
    draft with --partial; each other officer signs that file's directory with
    --partial --from; `lali directory merge` puts the signatures together.

    Example: lali directory sign --draft directory.draft.json --root-key hub-root.key \\
        --out directory.json
    Example: lali directory sign --partial --from part-1.json --root-key root-2.key \\
        --out part-2.json
    """
    if (draft is None) == (from_file is None):
        raise typer.BadParameter("give exactly one of --draft or --from")
    try:
        passphrase = read_passphrase(passphrase_file)
        roots = [load_root_key(path, passphrase) for path in root_key]
        if from_file is not None:
            source = read_signed_file(from_file.read_bytes())
            payload, directory, doc = source.payload, source.unverified_directory(), None
        else:
            assert draft is not None
            doc = _read_draft(draft)
            now = datetime.now(UTC)
            directory = Directory(
                version=int(doc["version"]) + 1,
                issued_at=now,
                expires_at=now + timedelta(days=valid_days),
                members=[Member.model_validate(m) for m in doc["members"]],
                roots=[RootEntry.model_validate(r) for r in doc.get("roots", [])],
                root_threshold=int(doc.get("root_threshold", 1)),
            )
            payload = directory.model_dump_json().encode("utf-8")
    except ValidationError as exc:
        raise typer.BadParameter(f"{draft}: {exc}") from exc
    except (OSError, ValueError) as exc:
        raise typer.BadParameter(str(exc)) from exc
    except LaliError as exc:
        raise fail(exc) from exc
    signers = {r.kid for r in roots}
    declared = {r.kid for r in directory.roots}
    short = len(signers & declared) < directory.root_threshold if declared else False
    if short and not partial:
        raise fail(
            PolicyViolation(
                f"the directory declares {len(declared)} roots, threshold"
                f" {directory.root_threshold}, and these keys are {len(signers & declared)}"
                " of them: nodes would refuse the file. Sign with more --root-key, or with"
                " --partial on each officer's machine and `lali directory merge`"
            )
        )
    out.write_bytes(sign_payload(payload, roots))
    if doc is not None and draft is not None:
        doc["version"] = directory.version
        _write_draft(draft, doc)
    names = ", ".join(r.kid for r in roots)
    typer.echo(f"directory version {directory.version} signed by {names} -> {out}")
    typer.echo(f"expires {directory.expires_at.isoformat(timespec='seconds')}")
    if from_file is not None:
        typer.echo(f"members: {', '.join(directory.codes())}")
    if partial:
        typer.echo(
            f"partial: {len(roots)} signature(s); sign the same directory elsewhere with"
            f" `lali directory sign --partial --from {out.name} ...`, then"
            " `lali directory merge`"
        )


@app.command("merge")
def merge(
    files: Annotated[list[Path], typer.Argument(help="partially signed files of one directory")],
    out: Annotated[Path, typer.Option(help="merged signed directory to write")],
    root_public: Annotated[
        list[str] | None,
        typer.Option(
            help="root public key (base64) to check signatures by, besides the roots"
            " the directory declares (e.g. the old roots in a rotation); repeatable"
        ),
    ] = None,
) -> None:
    """Merge the signatures of several files over the same directory into one file.

    Refuses files that sign different bytes, a key id that signed twice, a signature
    that does not verify and one whose key it cannot check. Then run `lali directory
    show` on the result before publishing it.

    Example: lali directory merge part-1.json part-2.json --out directory.json
    """
    try:
        known = parse_root_keys(root_public) if root_public else {}
        merged = merge_signatures([path.read_bytes() for path in files], known)
        taken_apart = read_signed_file(merged)
        directory = taken_apart.unverified_directory()
    except OSError as exc:
        raise typer.BadParameter(str(exc)) from exc
    except LaliError as exc:
        raise fail(exc) from exc
    out.write_bytes(merged)
    kids = [kid for kid, _ in taken_apart.signatures]
    typer.echo(
        f"directory version {directory.version}: {len(kids)} signature(s)"
        f" ({', '.join(kids)}) -> {out}"
    )
    if directory.roots:
        declared = {r.kid for r in directory.roots}
        have = len(declared & set(kids))
        met = "met" if have >= directory.root_threshold else "NOT met: nodes will refuse it"
        typer.echo(
            f"declared roots: {have} of {len(declared)} signed,"
            f" threshold {directory.root_threshold}: {met}"
        )


@app.command("show")
def show(
    path: Annotated[Path, typer.Argument(help="signed directory file")],
    root_public: Annotated[
        list[str], typer.Option(help="trusted root public key (base64); repeatable")
    ],
    threshold: Annotated[
        int, typer.Option(min=1, help="how many of them must sign (directory_threshold)")
    ] = 1,
) -> None:
    """Verify a signed directory as a node does and print its members: `threshold` of
    the given root keys, and the threshold of the roots the directory declares.

    Example: lali directory show directory.json --root-public 3q2+7w...=
    """
    try:
        roots = parse_root_keys(root_public)
    except LaliError as exc:
        raise fail(exc, about="--root-public") from exc
    try:
        data = read_file(path)
        directory, _ = verify_directory_update(data, RootSet(roots, threshold), datetime.now(UTC))
        signers = read_signed_file(data).signers(roots)
    except LaliError as exc:
        raise fail(exc, about=path) from exc
    typer.echo(
        f"directory version {directory.version}, issued {directory.issued_at:%Y-%m-%d %H:%M}"
        f" UTC, expires {directory.expires_at:%Y-%m-%d %H:%M} UTC: signature ok"
    )
    typer.echo(f"  signed by {', '.join(signers)} (threshold {threshold} of the given keys)")
    if directory.roots:
        typer.echo(
            f"  declares {len(directory.roots)} roots, threshold {directory.root_threshold}:"
            f" {', '.join(r.kid for r in directory.roots)}"
        )
    for m in directory.members:
        typer.echo(f"  {m.code}  {m.role.value:<6}  {m.name}")
        for k in m.keys:
            typer.echo(
                f"      {k.use.value:<7} {k.kid}  {k.not_before:%Y-%m-%d} .. {k.not_after:%Y-%m-%d}"
            )


@app.command("set-roots")
def set_roots(
    draft: Draft,
    root_public: Annotated[
        list[str], typer.Option(help="root public key (base64) for the next directories")
    ],
    threshold: Annotated[int, typer.Option(help="how many of them must sign")] = 1,
) -> None:
    """Declare the root keys (and threshold) that later directories must carry.

    The next `sign` must use the current roots (their threshold) AND the new ones:
    nodes follow the rotation only when both have signed.

    Example: lali directory set-roots --draft d.json --root-public AAA...= \
        --root-public BBB...= --root-public CCC...= --threshold 2
    """
    doc = _read_draft(draft)
    entries = []
    for kid, key in parse_root_keys(root_public).items():
        entries.append({"kid": kid, "public": base64.b64encode(bytes(key)).decode("ascii")})
    if not 1 <= threshold <= len(entries):
        raise typer.BadParameter("threshold must be between 1 and the number of roots")
    doc["roots"], doc["root_threshold"] = entries, threshold
    _write_draft(draft, doc)
    typer.echo(f"{len(entries)} roots, threshold {threshold}, set in {draft}")


@app.command("revoke")
def revoke(
    draft: Draft,
    kid: Annotated[str, typer.Option(help="key id to revoke (see `lali directory show`)")],
) -> None:
    """Mark a key revoked from now on, in the draft; then `sign` and `publish`.

    Example: lali directory revoke --draft directory.draft.json --kid 3f2a9c0d5e6b7a81
    """
    doc = _read_draft(draft)
    now = datetime.now(UTC).isoformat()
    hits = [k for m in doc["members"] for k in m["keys"] if k["kid"] == kid]
    if not hits:
        raise typer.BadParameter(f"no key {kid} in {draft}")
    for key in hits:
        key["revoked_at"] = now
    _write_draft(draft, doc)
    typer.echo(f"key {kid} revoked as of {now} in {draft}; now sign and publish it")


@app.command("publish")
def publish(
    path: Annotated[Path, typer.Argument(help="signed directory file")],
    config: Annotated[Path, typer.Option("--config", "-c", help="the hub's node.toml")],
) -> None:
    """Verify a signed directory and publish it to every running node (NATS KV).

    Example: lali directory publish directory.json --config /etc/lali/hub.toml
    """
    import asyncio

    from node.config import NodeSettings
    from node.exchange.directory_feed import publish_directory
    from node.transport import Transport

    try:
        settings = NodeSettings.load(config)
        data = path.read_bytes()
        trusted = RootSet(parse_root_keys(settings.root_keys), settings.directory_threshold)
        directory, _ = verify_directory_update(data, trusted, datetime.now(UTC))

        async def put() -> int:
            transport = Transport(settings.connect_options("publish", one_shot=True))
            await transport.connect()
            try:
                return await publish_directory(transport, data)
            finally:
                await transport.close()

        revision = asyncio.run(put())
    except LaliError as exc:
        raise fail(exc) from exc
    typer.echo(f"directory version {directory.version} published (revision {revision})")
