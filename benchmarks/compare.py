"""relocator against skopeo and a minimal copy, on one corpus, in one run.

    python -m benchmarks.compare [--total-mb 1000] [--refs 100]
    python -m benchmarks.compare --source HOST --dest HOST1 --dest HOST2 ... [--wrap "CMD PREFIX"]

Without --source it starts a local docker-registry and seeds the corpus (benchmarks/corpus.py);
without --dest it starts a fresh local registry for each contender. With --dest, give one empty
registry per contender, in the order of the rows. --wrap prefixes every tool command, e.g.
``--wrap "bash ../shared/wan/registry.sh cli"`` to run the tools behind an emulated WAN link.
Prints wall time, MB/s of unique bytes, peak RSS and ratios; never asserts.
"""

from __future__ import annotations

import argparse
import json
import re
import shlex
import sys
from collections import Counter
from pathlib import Path

from benchmarks.harness import MB, ROOT, Registries, Row, timed


def skopeo_cmd(src: str, dst: str) -> str:
    return ("skopeo copy -q --all --src-tls-verify=false --dest-tls-verify=false "
            f"docker://{src}/$0 docker://{dst}/$0")


def run(args: argparse.Namespace) -> None:
    wrap = shlex.split(args.wrap) if args.wrap else []
    with Registries("relocator-bench-", args.dest, keep=args.keep) as regs:
        compare(args, regs, wrap)


def compare(args: argparse.Namespace, regs: Registries, wrap: list[str]) -> None:
    work, fresh = regs.work, regs.fresh
    src_log: Path | None = Path(args.source_log) if args.source_log else None
    if args.source:
        src = args.source
        refs = [line.strip() for line in Path(args.refs_file).read_text().splitlines() if line.strip()]
        unique = 0
    else:
        reg, refs, unique = regs.seeded_source(args.total_mb, args.refs, args.repos)
        src, src_log = reg.host, reg.log_path
    paths = [r.split("/", 1)[1] for r in refs]
    (work / "refs.txt").write_text("\n".join(refs) + "\n")
    (work / "paths.txt").write_text("\n".join(paths) + "\n")
    print(f"corpus: {len(refs)} references, {unique / MB:.0f} MB unique; source {src}", file=sys.stderr)
    rows: list[Row] = []

    dst = fresh("limit")
    s, rss, p = timed([sys.executable, "-m", "benchmarks.limit_copy", src, dst, str(work / "refs.txt")],
                      wrap)
    rows.append(Row("limit (minimal copy)", s, rss, p.returncode == 0, p.stderr.strip()[-200:]))

    dst = fresh("relocator")
    log_mark = src_log.stat().st_size if src_log else 0
    cmd = [str(ROOT / ".venv/bin/relocator"), "relocate", "-f", str(work / "refs.txt"),
           "--prefix", dst, "--json", f"--concurrency={args.concurrency}",
           "--registry-insecure", src, "--registry-insecure", dst]
    s, rss, p = timed(cmd, wrap)
    note = ""
    if p.returncode == 0:
        report = json.loads(p.stdout)
        unique = unique or report["throughput"]["bytes"]
        note = f"blobs {report['counts']['blobs']}"
    rows.append(Row("relocator", s, rss, p.returncode == 0, note or p.stderr.strip()[-200:]))
    if src_log:
        text = src_log.read_bytes()[log_mark:].decode(errors="replace")
        gets = Counter(re.findall(r'"GET /v2/\S+/blobs/(sha256:[0-9a-f]{64}) HTTP', text))
        print(f"source blob GETs during relocator's run: {sum(gets.values())} for {len(gets)} "
              f"blobs, at most {max(gets.values(), default=0)} per blob", file=sys.stderr)
    s2, _, p2 = timed(cmd, wrap)
    print(f"relocator second run (nothing to do): {s2:.2f} s, exit {p2.returncode}", file=sys.stderr)

    if not args.skip_sequential:
        dst = fresh("skopeo-seq")
        loop = f'while read -r ref; do {skopeo_cmd(src, dst).replace("$0", "$ref")} || exit 1; done'
        s, rss, p = timed(["bash", "-c", f"{loop} < {work / 'paths.txt'}"], wrap)
        rows.append(Row("skopeo copy --all, sequential", s, rss, p.returncode == 0,
                        p.stderr.strip()[-200:]))

    dst = fresh("skopeo-par")
    xargs = f"xargs -P 8 -n 1 sh -c '{skopeo_cmd(src, dst)}' < {work / 'paths.txt'}"
    s, rss, p = timed(["bash", "-c", xargs], wrap)
    failures = p.stderr.count("Error")
    rows.append(Row("skopeo copy --all, 8 parallel", s, rss, p.returncode == 0,
                    f"{failures} errors" if failures else ""))

    limit = rows[0].seconds
    reloc = rows[1].seconds
    print("\n| tool | wall s | MB/s (unique) | peak RSS MB | vs limit | relocator speed-up | ok |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r.name} | {r.seconds:.1f} | {unique / MB / r.seconds:.0f} | {r.rss_mb:.0f} | "
              f"{r.seconds / limit:.2f}x | {r.seconds / reloc:.2f}x | {'yes' if r.ok else 'NO'} |")
    for r in rows:
        if r.note:
            print(f"{r.name}: {r.note}", file=sys.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--total-mb", type=int, default=1000)
    parser.add_argument("--refs", type=int, default=100)
    parser.add_argument("--repos", type=int, default=25)
    parser.add_argument("--source", help="an already seeded source registry (needs --refs-file)")
    parser.add_argument("--refs-file", help="references on --source, one a line")
    parser.add_argument("--source-log", help="the source registry's log, to count blob GETs")
    parser.add_argument("--dest", action="append", default=[], help="an empty registry per contender")
    parser.add_argument("--wrap", help="command prefix for every tool run")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--skip-sequential", action="store_true", help="leave out the slow skopeo loop")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    run(parser.parse_args())


if __name__ == "__main__":
    main()
