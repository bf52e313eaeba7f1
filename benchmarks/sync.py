"""relocator sync against skopeo sync, crane and regctl on one corpus, in one run; and the no-op
nightly run.

    python -m benchmarks.sync [--total-mb 1000] [--refs 100] [--repos 25] [--wrap "CMD PREFIX"]
    python -m benchmarks.sync --noop --refs 1000 --repos 50 --total-mb 50 [--wrap ...]

Seeds the corpus (benchmarks/corpus.py) into a local source registry, writes it as a sync config
(one entry per repository, every tag), then fills a fresh registry per row:

- **relocate**: `relocator relocate -f refs.txt --prefix DST` (the same images, named one by one);
- **relocator sync**: `relocator sync -f sync.yaml`;
- **skopeo sync**: `skopeo sync --all --src yaml --dest docker`, one YAML per team (skopeo puts an
  image at DEST/<last path component>, so each team gets DEST/<team>);
- **crane copy, 8 at a time** and **regctl image copy, 8 at a time** (../shared/peers/bin; their
  users run many references through `xargs -P 8`).

Then a second `relocator sync` with nothing to do: its time and the source's manifest GETs (from the
registry's access log) and HEADs. ``--noop`` runs only relocator sync, twice, and reports the
second run. ``--wrap`` prefixes every tool command (e.g. ``bash ../shared/wan/registry.sh cli``)
with ``--source``/``--dest`` pointing at registries behind the link. Prints; never asserts.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shlex
import sys
from collections import defaultdict
from pathlib import Path

from benchmarks.corpus import MB, build, seed
from benchmarks.harness import RELOCATOR, ROOT, Registries, Row, timed

PEERS = ROOT.parent / "shared" / "peers" / "bin"


def sync_config(src: str, dst: str, repos: list[str], path: Path) -> None:
    path.write_text("defaults: {concurrency: 16}\nmirrors:\n" + "".join(
        f"  - source: {src}/{repo}\n    target: {dst}/{repo}\n" for repo in repos))


def run(args: argparse.Namespace) -> None:
    wrap = shlex.split(args.wrap) if args.wrap else []
    with Registries("relocator-sync-bench-", args.dest, keep=args.keep) as regs:
        os.environ["RELOCATOR_STATE_DIR"] = str(regs.work / "state")  # the sync lock, away from the user's
        measure(args, regs, wrap)


def measure(args: argparse.Namespace, regs: Registries, wrap: list[str]) -> None:
    work, fresh = regs.work, regs.fresh
    if args.source and args.seed:  # a registry started elsewhere (behind ../shared/wan): seed it
        src, src_log = args.source, Path(args.source_log) if args.source_log else None
        corpus = build(args.total_mb * MB, args.refs, args.repos)
        asyncio.run(seed(src, corpus))
        refs = [f"{src}/{repo}:{tag}" for repo, tag, _, _ in corpus.tags]
        del corpus
    elif args.source:
        src, src_log = args.source, Path(args.source_log) if args.source_log else None
        refs = [line.strip() for line in Path(args.refs_file).read_text().splitlines() if line.strip()]
    else:
        reg, refs, unique = regs.seeded_source(args.total_mb, args.refs, args.repos)
        src, src_log = reg.host, reg.log_path
        print(f"corpus: {len(refs)} references in {args.repos} repositories, "
              f"{unique / MB:.0f} MB unique; source {src}", file=sys.stderr)
    repos = sorted({r.split("/", 1)[1].rsplit(":", 1)[0] for r in refs})
    (work / "refs.txt").write_text("\n".join(refs) + "\n")
    rows: list[Row] = []

    dst = fresh("sync")
    sync_config(src, dst, repos, work / "sync.yaml")
    cmd = [RELOCATOR, "sync", "-f", str(work / "sync.yaml"), "--json",
           "--registry-insecure", src, "--registry-insecure", dst]
    s, rss, p = timed(cmd, wrap)
    rows.append(Row("relocator sync", s, rss, p.returncode == 0, p.stderr.strip()[-200:]))
    mark = src_log.stat().st_size if src_log else 0
    s2, _, p2 = timed(cmd, wrap)
    gets = heads = -1
    if src_log:
        log = src_log.read_bytes()[mark:].decode(errors="replace")
        gets = len(re.findall(r'"GET /v2/\S+/manifests/', log))
        heads = len(re.findall(r'"HEAD /v2/\S+/manifests/', log))
    report = json.loads(p2.stdout) if p2.returncode == 0 else {}
    counts = report["counts"]["outcomes"] if report else p2.stderr[-200:]
    requests = report["details"]["manifest_requests"] if report else None
    print(f"relocator sync, nothing to do: {s2:.2f} s, exit {p2.returncode}, {counts}; "
          f"its own count of manifest requests {requests}; "
          f"source access log: {gets} manifest GETs, {heads} manifest HEADs "
          "(-1: no log; 0 and 0: a log without access lines)", file=sys.stderr)
    if args.noop:
        return

    dst = fresh("relocate")
    s, rss, p = timed([RELOCATOR, "relocate", "-f", str(work / "refs.txt"), "--prefix", dst, "--json",
                       "--registry-insecure", src, "--registry-insecure", dst], wrap)
    rows.append(Row("relocator relocate (same images)", s, rss, p.returncode == 0,
                    p.stderr.strip()[-200:]))

    dst = fresh("skopeo")
    teams: dict[str, list[str]] = defaultdict(list)
    for repo in repos:
        teams[repo.split("/")[0]].append(repo)
    script = []
    for team, members in teams.items():
        yaml = work / f"skopeo-{team}.yaml"
        yaml.write_text(f"{src}:\n  tls-verify: false\n  images:\n"
                        + "".join(f"    {m}: []\n" for m in members))
        script.append(f"skopeo sync --all --src yaml --dest docker --dest-tls-verify=false "
                      f"{yaml} {dst}/{team} || exit 1")
    s, rss, p = timed(["bash", "-c", "\n".join(script)], wrap)
    rows.append(Row("skopeo sync --all (one YAML per team)", s, rss, p.returncode == 0,
                    p.stderr.strip()[-200:]))

    paths = work / "paths.txt"
    paths.write_text("\n".join(r.split("/", 1)[1] for r in refs) + "\n")
    if (PEERS / "crane").exists():
        dst = fresh("crane")
        s, rss, p = timed(["bash", "-c", f"xargs -P 8 -n 1 sh -c '{PEERS}/crane copy --insecure "
                           f"{src}/$0 {dst}/$0' < {paths}"], wrap)
        rows.append(Row("crane copy, 8 at a time", s, rss, p.returncode == 0, p.stderr.strip()[-200:]))
    if (PEERS / "regctl").exists():
        dst = fresh("regctl")
        hosts = f"--host reg={src},tls=disabled --host reg={dst},tls=disabled"
        s, rss, p = timed(["bash", "-c", f"xargs -P 8 -n 1 sh -c '{PEERS}/regctl {hosts} image copy "
                           f"{src}/$0 {dst}/$0' < {paths}"], wrap)
        rows.append(Row("regctl image copy, 8 at a time", s, rss, p.returncode == 0,
                        p.stderr.strip()[-200:]))

    first = rows[0].seconds
    print("\n| tool | wall s | peak RSS MB | vs relocator sync | ok |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(f"| {r.name} | {r.seconds:.1f} | {r.rss_mb:.0f} | {r.seconds / first:.2f}x | "
              f"{'yes' if r.ok else 'NO'} |")
    for r in rows:
        if not r.ok and r.note:
            print(f"{r.name}: {r.note}", file=sys.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--total-mb", type=int, default=1000)
    parser.add_argument("--refs", type=int, default=100)
    parser.add_argument("--repos", type=int, default=25)
    parser.add_argument("--noop", action="store_true", help="only the no-op relocator sync run")
    parser.add_argument("--source", help="an already seeded source registry (needs --refs-file)")
    parser.add_argument("--refs-file", help="references on --source, one a line")
    parser.add_argument("--seed", action="store_true", help="seed the corpus into --source first")
    parser.add_argument("--source-log", help="the source registry's access log, to count requests")
    parser.add_argument("--dest", action="append", default=[], help="an empty registry per row")
    parser.add_argument("--wrap", help="command prefix for every tool run")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    run(parser.parse_args())


if __name__ == "__main__":
    main()
