"""Mutation fuzzing of ``node.protocol.envelope.open_envelope`` (THREATS.md row 10: malformed
input gets only declared error types).

A deterministic corpus of genuine envelopes (fixed keys, fixed randomness: the same
bytes on every run) is mutated by a seeded generator: bit flips, byte overwrites,
insertions, deletions, truncations, extensions, splices of two envelopes, copied
chunks and overwritten header fields. Three kinds of mutant:

- *raw* (65 %): the envelope's bytes mutated, as a broker or a network could;
- *re-signed* (20 %): the signed part mutated, then signed again by the genuine
  sender (as a malicious member could), so that the mutant gets past the signature
  and reaches identity, time, key wrap and AEAD;
- *re-sealed* (15 %): the alert's JSON (or its compressed form) mutated, then
  encrypted and signed properly by the sender, so that the mutant reaches unpadding,
  inflating, parsing and the header cross-check.

What must hold for every mutant, opened by FJ:

- it raises ``UntrustedMessage`` (any reason) or ``NotAddressed``, nothing else;
- a raw mutant opens (or is "not addressed") only if it is byte for byte one of the
  genuine envelopes, and then reads what that one says;
- a re-signed mutant opens only to the genuine alert (the mutation can change what
  other recipients' wraps hold, nothing FJ reads);
- a re-sealed mutant opens only to a schema-valid alert that agrees with its header.

Used by ``test_fuzz.py`` (``LALI_FUZZ_N`` mutants, default 100,000) and by
``bench/fuzz_envelope.py`` (``make fuzz``, default 1,000,000).
"""

from __future__ import annotations

import hashlib
import random
import time
import zlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import nacl.signing
from testkit import sample_alert

from keys import Directory, Identity, RootKey
from node.ops.vectors import NOW, fixed_directory, fixed_identities, fixed_random
from node.protocol.envelope import encrypt_and_sign, key_commitment, open_envelope, seal
from node.protocol.wire import HEADER_LEN, LABEL, SIG_LEN, Header
from schemas.alert import Alert, Topic, alert_to_json
from schemas.errors import NotAddressed, UntrustedMessage

SEED = 20261129
ME = "FJ"
# (sender, recipients, topic): some for FJ (one of one, one of several), some not.
CASES = [
    ("WS", ("FJ",), Topic.MARITIME),
    ("WS", ("FJ", "TO"), Topic.ASYLUM),
    ("XH", ("WS", "FJ", "TO"), Topic.BULLETIN),
    ("TO", ("XH", "FJ"), Topic.IDENTITY_FRAUD),
    ("TO", ("WS",), Topic.PEOPLE_SMUGGLING),
    ("FJ", ("XH",), Topic.DRUG_SMUGGLING),
]
INTERESTING = (0x00, 0x01, 0x7F, 0x80, 0xFE, 0xFF)
# Header fields as (offset in the envelope, size), from docs/wire-format.md.
HEADER_FIELDS = [
    (16 + offset, size)
    for offset, size in (
        (0, 1),
        (1, 1),
        (2, 1),
        (3, 1),
        (4, 1),
        (5, 2),
        (7, 8),
        (15, 8),
        (23, 16),
        (39, 8),
        (47, 24),
    )
]
COUNT_AT = len(LABEL) + HEADER_LEN


@dataclass(frozen=True)
class Sample:
    data: bytes
    signer: Identity
    alert: Alert | None  # what FJ reads from it; None: not addressed to FJ
    header: Header
    text: bytes  # the alert's JSON
    publics: tuple[bytes, ...]  # the recipients' X25519 keys


@dataclass(frozen=True)
class Corpus:
    samples: tuple[Sample, ...]
    me: Identity
    directory: Directory
    now: datetime
    by_bytes: dict[bytes, Sample]

    @property
    def addressed(self) -> tuple[Sample, ...]:
        """The samples FJ is a recipient of."""
        return tuple(s for s in self.samples if s.alert is not None)


def build_corpus() -> Corpus:
    """Genuine envelopes, the same bytes on every run."""
    ids = fixed_identities()
    root = RootKey(nacl.signing.SigningKey(hashlib.sha256(b"lali fuzz root").digest()))
    directory, _ = fixed_directory(ids, root)
    samples = []
    for index, (sender, recipients, topic) in enumerate(CASES):
        alert = sample_alert(topic)
        rng, _ = fixed_random(f"fuzz corpus {index}")
        header, data = seal(alert, ids[sender], list(recipients), directory, NOW, rng=rng)
        publics = tuple(
            directory.current_encryption_key(code, NOW).public_bytes() for code in recipients
        )
        samples.append(
            Sample(
                data,
                ids[sender],
                alert if ME in recipients else None,
                header,
                alert_to_json(alert),
                publics,
            )
        )
    return Corpus(tuple(samples), ids[ME], directory, NOW, {s.data: s for s in samples})


# --- mutators: (random, data, corpus) -> mutated bytes -----------------------------------

Mutator = Callable[[random.Random, bytes, Corpus], bytes]


def bit_flips(r: random.Random, data: bytes, _c: Corpus) -> bytes:
    out = bytearray(data)
    for _ in range(r.randint(1, 4)):
        i = r.randrange(len(out))
        out[i] ^= 1 << r.randrange(8)
    return bytes(out)


def byte_sets(r: random.Random, data: bytes, _c: Corpus) -> bytes:
    out = bytearray(data)
    for _ in range(r.randint(1, 4)):
        out[r.randrange(len(out))] = r.choice(INTERESTING) if r.random() < 0.5 else r.randrange(256)
    return bytes(out)


def insertion(r: random.Random, data: bytes, _c: Corpus) -> bytes:
    i = r.randrange(len(data) + 1)
    return data[:i] + r.randbytes(r.randint(1, 32)) + data[i:]


def deletion(r: random.Random, data: bytes, _c: Corpus) -> bytes:
    i = r.randrange(len(data))
    return data[:i] + data[i + r.randint(1, 32) :]


def truncation(r: random.Random, data: bytes, _c: Corpus) -> bytes:
    return data[: r.randrange(len(data))]


def extension(r: random.Random, data: bytes, _c: Corpus) -> bytes:
    return data + r.randbytes(r.randint(1, 64))


def splice(r: random.Random, data: bytes, c: Corpus) -> bytes:
    other = r.choice(c.samples).data
    return data[: r.randrange(len(data) + 1)] + other[r.randrange(len(other) + 1) :]


def chunk_copy(r: random.Random, data: bytes, _c: Corpus) -> bytes:
    size = r.randint(1, 64)
    src, dst = r.randrange(len(data)), r.randrange(len(data))
    out = bytearray(data)
    chunk = data[src : src + size]
    out[dst : dst + len(chunk)] = chunk
    return bytes(out[: len(data)]) if r.random() < 0.5 else bytes(out)


def header_field(r: random.Random, data: bytes, _c: Corpus) -> bytes:
    out = bytearray(data)
    if r.random() < 0.2:
        out[COUNT_AT] = r.randrange(256)
    else:
        at, size = r.choice(HEADER_FIELDS)
        out[at : at + size] = r.randbytes(size)
    return bytes(out)


MUTATORS: dict[str, Mutator] = {
    "bit_flips": bit_flips,
    "byte_sets": byte_sets,
    "insertion": insertion,
    "deletion": deletion,
    "truncation": truncation,
    "extension": extension,
    "splice": splice,
    "chunk_copy": chunk_copy,
    "header_field": header_field,
}
# Byte mutators that make sense on a plaintext too (not the envelope-field ones).
TEXT_MUTATORS = [m for name, m in MUTATORS.items() if name != "header_field"]
RESIGN_SHARE = 0.20  # signed again by the genuine sender
RESEAL_SHARE = 0.15  # plaintext mutated, then encrypted and signed properly


@dataclass
class Report:
    count: int = 0
    elapsed_s: float = 0.0
    outcomes: Counter[str] = field(default_factory=Counter)  # reason, or "opened" etc.
    mutations: Counter[str] = field(default_factory=Counter)
    unexpected: list[str] = field(default_factory=list)  # the first MAX_KEPT, described
    unexpected_count: int = 0


MAX_KEPT = 20


def mutant(r: random.Random, c: Corpus) -> tuple[str, Sample, bytes, str]:
    """One mutant: (mutation name, the sample it came from, its bytes, its kind)."""
    roll = r.random()
    if roll < RESEAL_SHARE:  # only worth it where FJ gets as far as the plaintext
        sample = r.choice(c.addressed)
        return (*_resealed(r, sample, c), "re-sealed")
    sample = r.choice(c.samples)
    name = r.choice(list(MUTATORS))
    if roll < RESEAL_SHARE + RESIGN_SHARE:
        signed = MUTATORS[name](r, sample.data[:-SIG_LEN], c)
        return name, sample, signed + sample.signer.signing_key.sign(signed).signature, "re-signed"
    return name, sample, MUTATORS[name](r, sample.data, c), "raw"


def _resealed(r: random.Random, sample: Sample, c: Corpus) -> tuple[str, Sample, bytes]:
    mutate = r.choice(TEXT_MUTATORS)
    if r.random() < 0.5:
        name, body = f"json {mutate.__name__}", zlib.compress(mutate(r, sample.text, c))
    else:
        name, body = f"zlib {mutate.__name__}", mutate(r, zlib.compress(sample.text), c)
    key = r.randbytes(32)  # from the generator: a mutant is reproducible from its index
    header = Header(**{**sample.header.__dict__, "commitment": key_commitment(key)})
    return name, sample, encrypt_and_sign(header, body, key, sample.signer, sample.publics)


def judge(c: Corpus, sample: Sample, data: bytes, kind: str) -> tuple[str, str | None]:
    """Open ``data`` as FJ; return (outcome, problem or None)."""
    genuine = c.by_bytes.get(data)
    try:
        opened = open_envelope(data, c.me, c.directory, c.now)
    except NotAddressed:
        ok = genuine.alert is None if genuine is not None else kind != "raw"
        return "not_addressed", None if ok else "not addressed, though not a genuine envelope"
    except UntrustedMessage as exc:
        return exc.reason, None
    except Exception as exc:  # the point of the exercise: anything else is a bug
        return "unexpected", f"{type(exc).__name__}: {exc}"
    if genuine is not None:
        ok = opened.alert == genuine.alert
    elif kind == "re-signed":
        ok = opened.alert == sample.alert
    else:
        ok = kind == "re-sealed"  # a valid alert the sender chose to sign
    return "opened", None if ok else f"a {kind} mutant opened to {opened.alert.title!r}"


def run(
    n: int,
    seed: int = SEED,
    *,
    corpus: Corpus | None = None,
    progress: Callable[[Report], None] | None = None,
    every: int = 100_000,
) -> Report:
    """Open ``n`` mutants; count outcomes; describe the unexpected ones."""
    c = corpus or build_corpus()
    r = random.Random(seed)
    report = Report()
    started = time.perf_counter()
    for index in range(n):
        name, sample, data, kind = mutant(r, c)
        outcome, problem = judge(c, sample, data, kind)
        report.count += 1
        report.outcomes[outcome] += 1
        report.mutations[f"{kind} {name}"] += 1
        if problem is not None:
            report.unexpected_count += 1
            if len(report.unexpected) < MAX_KEPT:
                report.unexpected.append(
                    f"#{index} (seed {seed}) {kind} {name}: {problem}; mutant={data.hex()}"
                )
        if progress is not None and report.count % every == 0:
            report.elapsed_s = time.perf_counter() - started
            progress(report)
    report.elapsed_s = time.perf_counter() - started
    return report


def summary(report: Report) -> str:
    rate = report.count / report.elapsed_s if report.elapsed_s else 0.0
    reasons = ", ".join(f"{k} {v}" for k, v in report.outcomes.most_common())
    return (
        f"fuzzed {report.count} mutated envelopes in {report.elapsed_s:.1f} s "
        f"({rate:,.0f}/s); unexpected: {report.unexpected_count}; outcomes: {reasons}"
    )
