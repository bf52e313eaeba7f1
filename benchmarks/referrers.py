"""What carrying referrers costs: `relocate --referrers all` against `--referrers none`, from a
source that serves the Referrers API and from one that does not (the fallback tag), in one run.

    python -m benchmarks.referrers [--images 20] [--layer-kb 256] [--rounds 3] [--keep]

The corpus: ``--images`` two-platform indexes, each child with an SBOM and a provenance attestation
linked by ``subject``, a cosign signature on the index under its legacy ``sha256-<hex>.sig`` tag, and
a signature on the first child's SBOM (tests/referrers.py builds each piece). It is seeded twice:
into a bare distribution 2.8.2 with each subject's fallback-tag index, as a spec-following client
pushes where there is no API, and through the Referrers-API front of the tests (an aiohttp proxy
that answers ``/referrers/`` itself and forwards the rest; page size 50).

Each round relocates the corpus four times (each source, each policy) with ``--prefix`` into a fresh
registry, and reads both access logs: requests at the source by kind (the front's own referrers
answers added), requests at the destination, and the most GETs any one blob got from the source.
Prints the medians of the rounds; never asserts.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from benchmarks.harness import RELOCATOR, Registries, access_log, request_counts, timed
from tests.images import random_index, valid_image
from tests.referrers import (
    PROVENANCE,
    SIGNATURE,
    SPDX,
    Attached,
    ReferrersFront,
    artifact,
    cosign_signature,
    seed_attached,
)
from tests.registries import Registry

_KINDS = ("manifest GET", "manifest HEAD", "blob GET", "tags GET", "referrers GET", "404")


def corpus(images: int, layer_bytes: int) -> list[Attached]:
    """``images`` indexes of two platforms, each with everything a supply chain hangs on it."""
    out = []
    for i in range(images):
        rng = random.Random(1000 + i)
        index = random_index([valid_image(rng, (layer_bytes, layer_bytes // 4)) for _ in range(2)])
        sboms = [artifact(rng, SPDX, c) for c in index.children]
        provenance = [artifact(rng, PROVENANCE, c) for c in index.children]
        out.append(Attached(index, cosign_signature(rng, index), sboms, provenance,
                            artifact(rng, SIGNATURE, sboms[0])))
    return out


@dataclass
class Source:
    """A seeded source: its host, the registry whose access log counts its requests, and the front
    that answers the Referrers API in front of it (None for the bare registry)."""

    name: str
    host: str
    upstream: Registry
    front: ReferrersFront | None = None


@dataclass
class Result:
    seconds: float
    ok: bool
    images: int
    referrers: int
    source: Counter[str]
    dest_total: int
    max_blob_gets: int
    note: str = ""


def relocate(regs: Registries, src: Source, policy: str, refs: Path, name: str) -> Result:
    """One relocate of the corpus into a fresh registry, with what both access logs show."""
    dest = regs.start(name)
    mark = src.upstream.log_path.stat().st_size
    front_before = src.front.referrer_gets if src.front is not None else 0
    cmd = [RELOCATOR, "relocate", "-f", str(refs), "--prefix", dest.host, "--referrers", policy, "--json",
           "--registry-insecure", src.host, "--registry-insecure", dest.host]
    seconds, _, proc = timed(cmd, [])
    lines = access_log(src.upstream.log_path, mark)
    counts = request_counts(lines)
    if src.front is not None:
        answered = src.front.referrer_gets - front_before  # answered by the front, not forwarded
        counts["referrers GET"] += answered
        counts["total"] += answered
    gets = Counter(path for method, path, _ in lines if method == "GET" and "/blobs/sha256:" in path)
    report = json.loads(proc.stdout) if proc.returncode == 0 else {}
    images = report.get("images", {})
    relocated = images.get("relocated", 0) if isinstance(images, dict) else len(images)
    copied = report.get("referrers", {}).get("copied", 0)
    return Result(seconds, proc.returncode == 0, relocated, copied, counts,
                  request_counts(access_log(dest.log_path))["total"],
                  max(Counter(p.rsplit("/blobs/", 1)[1] for p in gets.elements()).values(), default=0),
                  "" if proc.returncode == 0 else proc.stderr.strip()[-300:])


def run(args: argparse.Namespace) -> None:
    fixtures = corpus(args.images, args.layer_kb * 1024)
    with Registries("relocator-referrers-bench-", keep=args.keep) as regs:
        bare = regs.start("bare")
        behind = regs.start("api-upstream")
        front = ReferrersFront(behind, page_size=50).start()
        try:
            sources = [Source("fallback tag (bare registry)", bare.host, bare),
                       Source("Referrers API (front)", front.host, behind, front)]
            for src in sources:
                reg = src.front.registry() if src.front is not None else src.upstream
                for i, fix in enumerate(fixtures):
                    seed_attached(reg, f"bench/app{i}", "v1", fix, fallback=src.front is None)
            measure(args, regs, sources)
        finally:
            front.stop()


def measure(args: argparse.Namespace, regs: Registries, sources: list[Source]) -> None:
    results: dict[tuple[str, str], list[Result]] = {}
    for round_ in range(args.rounds):
        for s, src in enumerate(sources):
            refs = regs.work / f"refs-{s}.txt"
            refs.write_text("".join(f"{src.host}/bench/app{i}:v1\n" for i in range(args.images)))
            for policy in ("none", "all"):
                name = f"dest-{round_}-{s}-{policy}"  # a fresh registry, its own storage, every run
                results.setdefault((src.name, policy), []).append(relocate(regs, src, policy, refs, name))
    print(f"\n{args.images} two-platform images, {args.images * 6} referrers (per image: 2 SBOMs, "
          f"2 provenance, the index's .sig, a signature on one SBOM); median of {args.rounds} rounds\n")
    print("| source | --referrers | wall s | referrers copied | source requests | "
          + " | ".join(_KINDS) + " | destination requests | most GETs of one blob | ok |")
    print("|---|---|---|---|---|" + "---|" * len(_KINDS) + "---|---|---|")
    for (name, policy), rs in results.items():
        med = rs[sorted(range(len(rs)), key=lambda i: rs[i].seconds)[len(rs) // 2]]
        print(f"| {name} | {policy} | {statistics.median(r.seconds for r in rs):.2f} | {med.referrers} | "
              f"{med.source['total']} | " + " | ".join(str(med.source[k]) for k in _KINDS)
              + f" | {med.dest_total} | {max(r.max_blob_gets for r in rs)} | "
              f"{'yes' if all(r.ok for r in rs) else 'NO'} |")
    for (name, policy), rs in results.items():
        for r in rs:
            if r.note:
                print(f"{name}, --referrers {policy}: {r.note}", file=sys.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=20)
    parser.add_argument("--layer-kb", type=int, default=256, help="the larger layer of each child")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    run(parser.parse_args())


if __name__ == "__main__":
    main()
