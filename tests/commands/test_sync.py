"""relocator sync against real registries: filters, the HEAD-only no-op run, moved and immutable
tags, failures named per image, the run lock, and skopeo sync / regsync configs read as they are."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from relocator.frontends.syncconfig import load_sync_config
from relocator.frontends.syncmodel import lock_key
from tests import reports
from tests.commands.test_signals import _interrupt
from tests.images import Image, seed, sha256, skopeo_raw_manifest, valid_image
from tests.proxy import FaultProxy
from tests.registries import Registry, start_registry

APP_TAGS = ["1.19.0", "1.20.0", "1.21.0-alpine", "1.22.0-rc.1", "2.0.0", "latest"]


def sync(state: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DOCKER_CONFIG": "/nonexistent", "RELOCATOR_STATE_DIR": str(state)}
    return subprocess.run([sys.executable, "-m", "relocator", "sync", *args], capture_output=True, text=True,
                           timeout=300, env=env)


def tags_at(reg: Registry, repo: str) -> list[str]:
    try:
        with urllib.request.urlopen(f"{reg.url}/v2/{repo}/tags/list", timeout=30) as resp:
            return sorted(json.load(resp)["tags"] or [])
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return []
        raise


def results(path: Path) -> dict[str, dict[str, str | None]]:
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    return {r["reference"]: r for r in rows}


@pytest.fixture
def app(registry: Registry) -> dict[str, Image]:
    """sync/app with six tags (each its own image) and sync/tool:v1, in the shared registry."""
    rng = random.Random(120)
    images = {tag: valid_image(rng, (1000 + i,)) for i, tag in enumerate(APP_TAGS)}
    for tag, image in images.items():
        seed(registry, "sync/app", tag, image)
    images["tool:v1"] = valid_image(rng, (900,))
    seed(registry, "sync/tool", "v1", images["tool:v1"])
    return images


def test_filters_no_op_moved_and_immutable_tags(registry: Registry, fresh_registry: Registry,
                                                app: dict[str, Image], tmp_path: Path) -> None:
    config = tmp_path / "sync.yaml"
    config.write_text(f"""\
defaults:
  tags: {{deny: ['.*-rc.*']}}
mirrors:
  - source: {registry.host}/sync/app
    target: {fresh_registry.host}/mirror/app
    tags: {{semver: '>=1.20 <2'}}
    immutableTags: ['1\\.20\\..*']
  - source: {registry.host}/sync/tool:v1
    target: {fresh_registry.host}/mirror/tool
  - source: {registry.host}/sync/missing
    target: {fresh_registry.host}/mirror/missing
""")
    state, out = tmp_path / "state", tmp_path / "results.jsonl"
    first = sync(state, "-f", str(config), "--results", str(out))
    assert first.returncode == 1, first.stderr  # sync/missing failed, the rest is done
    assert tags_at(fresh_registry, "mirror/app") == ["1.20.0", "1.21.0-alpine"]
    for tag in ("1.20.0", "1.21.0-alpine"):
        assert sha256(skopeo_raw_manifest(fresh_registry, f"mirror/app:{tag}")) == app[tag].digest
    assert sha256(skopeo_raw_manifest(fresh_registry, "mirror/tool:v1")) == app["tool:v1"].digest
    rows = results(out)
    assert {k: r["outcome"] for k, r in rows.items()} == {
        f"{registry.host}/sync/app:1.20.0": "added", f"{registry.host}/sync/app:1.21.0-alpine": "added",
        f"{registry.host}/sync/tool:v1": "added", f"{registry.host}/sync/missing": "failed"}
    assert "NAME_UNKNOWN" in str(rows[f"{registry.host}/sync/missing"]["error"])

    # Nothing changed: HEADs only, no manifest GET at the source.
    gets = registry.requests("GET", r"sync/(app|tool)/manifests/.*")
    again = sync(state, "-f", str(config), "--json")
    assert again.returncode == 1, again.stderr
    report = reports.load(again.stdout)
    assert report["counts"]["outcomes"] == {"failed": 1, "unchanged": 3}
    assert report["details"]["manifest_requests"][registry.host] == {"GET": 0, "HEAD": 3}
    assert registry.requests("GET", r"sync/(app|tool)/manifests/.*") == gets

    # Two tags move at the source: the mutable one is updated, the immutable one kept and named.
    rng = random.Random(121)
    moved = {tag: valid_image(rng, (700,)) for tag in ("1.20.0", "1.21.0-alpine")}
    for tag, image in moved.items():
        seed(registry, "sync/app", tag, image)
    config.write_text(config.read_text().replace("  - source: " + registry.host + "/sync/missing\n"
                                                 f"    target: {fresh_registry.host}/mirror/missing\n", ""))
    third = sync(state, "-f", str(config), "--results", str(out))
    assert third.returncode == 0, third.stderr
    rows = results(out)
    assert rows[f"{registry.host}/sync/app:1.21.0-alpine"]["outcome"] == "updated"
    kept = rows[f"{registry.host}/sync/app:1.20.0"]
    assert kept["outcome"] == "kept" and kept["destination_digest"] == app["1.20.0"].digest
    assert kept["destination_digest_before"] == app["1.20.0"].digest and "(immutableTags " in kept["error"]
    updated_row = rows[f"{registry.host}/sync/app:1.21.0-alpine"]
    assert updated_row["destination_digest"] == moved["1.21.0-alpine"].digest
    assert updated_row["destination_digest_before"] == app["1.21.0-alpine"].digest
    assert f"kept {registry.host}/sync/app:1.20.0" in third.stdout
    updated = skopeo_raw_manifest(fresh_registry, "mirror/app:1.21.0-alpine")
    assert sha256(updated) == moved["1.21.0-alpine"].digest
    assert sha256(skopeo_raw_manifest(fresh_registry, "mirror/app:1.20.0")) == app["1.20.0"].digest


def test_dry_run_and_list_tags_copy_nothing(registry: Registry, fresh_registry: Registry,
                                           app: dict[str, Image], tmp_path: Path) -> None:
    src, dst = f"{registry.host}/sync/app", f"{fresh_registry.host}/mirror/app"
    listed = sync(tmp_path, src, dst, "--semver", "^1", "--deny", ".*-rc.*", "--list-tags")
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.strip() == f"{src} -> {dst}: 1.19.0 1.20.0 1.21.0-alpine"
    dry = sync(tmp_path, src, dst, "--latest", "1", "--json", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    report = reports.load(dry.stdout)
    assert report["counts"]["outcomes"] == {"add": 2}  # 2.0.0, the newest version, and latest (a tag)
    assert report["dry_run"] and report["throughput"]["bytes"] == sum(
        len(b) for t in ("2.0.0", "latest") for b in app[t].blobs.values())
    assert tags_at(fresh_registry, "mirror/app") == []


def test_a_second_run_is_refused_and_a_dead_ones_lock_taken_over(
        registry: Registry, fresh_registry: Registry, app: dict[str, Image], tmp_path: Path) -> None:
    config = tmp_path / "sync.yaml"
    config.write_text(f"mirrors:\n  - source: {registry.host}/sync/tool:v1\n"
                      f"    target: {fresh_registry.host}/mirror/tool\n")
    state = tmp_path / "state"
    # The lock is keyed on the pairs written, not the file: a renamed copy and SRC DST are the same job.
    key = lock_key(load_sync_config(config))
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from relocator.stores.runlock import run_lock\n"
         f"with run_lock({key!r}, 'x'):\n print('held', flush=True); time.sleep(300)"],
        stdout=subprocess.PIPE, text=True, env={**os.environ, "RELOCATOR_STATE_DIR": str(state)})
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        refused = sync(state, "-f", str(config))
        assert refused.returncode == 2
        assert refused.stderr.strip() == (f"relocator: error: {config}: another sync of it is still running "
                                          f"(pid {holder.pid}, started "
                                          + refused.stderr.split("started ", 1)[1].strip())
        copied = tmp_path / "copy-of-sync.yaml"
        copied.write_text(config.read_text())
        for other in (sync(state, "-f", str(copied)),
                      sync(state, f"{registry.host}/sync/tool:v1", f"{fresh_registry.host}/mirror/tool")):
            assert other.returncode == 2, other.stderr
            assert "another sync of it is still running" in other.stderr
        assert tags_at(fresh_registry, "mirror/tool") == []
    finally:
        holder.send_signal(signal.SIGKILL)  # kill -9: the kernel drops its flock
        holder.wait()
        if holder.stdout is not None:
            holder.stdout.close()
    taken = sync(state, "-f", str(config))
    assert taken.returncode == 0, taken.stderr
    assert tags_at(fresh_registry, "mirror/tool") == ["v1"]


def test_skopeo_and_regsync_configs_give_what_ours_gives(registry: Registry, fresh_registry: Registry,
                                                       app: dict[str, Image], tmp_path: Path) -> None:
    dst = fresh_registry.host
    ours = tmp_path / "ours.yaml"
    ours.write_text(f"""\
mirrors:
  - source: {registry.host}/sync/app
    target: {dst}/ours/app
    tags: {{allow: ['1\\..*'], deny: ['.*-rc.*']}}
  - source: {registry.host}/sync/tool:v1
    target: {dst}/ours/tool
""")
    skopeo_file = tmp_path / "skopeo.yaml"  # skopeo-sync(1)'s example, against the local registries
    skopeo_file.write_text(f"""\
{registry.host}:
  images-by-tag-regex:
    sync/app: ^1\\.[0-9]+\\.[0-9]+(-alpine)?$
  images:
    sync/tool: ["v1"]
  tls-verify: false
""")
    regsync = tmp_path / "regsync.yaml"  # regsync's documented shape
    regsync.write_text(f"""\
version: 1
defaults:
  parallel: 2
  interval: 60m
sync:
  - source: {registry.host}/sync/app
    target: {dst}/regsync/app
    type: repository
    tags:
      allow: ['1\\..*']
      deny: ['.*-rc.*']
  - source: {registry.host}/sync/tool:v1
    target: {dst}/regsync/tool:v1
    type: image
""")
    for args in (["-f", str(ours)], ["-f", str(skopeo_file), "--dest", f"{dst}/skopeo"],
                 ["-f", str(regsync)]):
        proc = sync(tmp_path / "state", *args)
        assert proc.returncode == 0, (args, proc.stderr)
    assert "not done by relocator sync, ignored: defaults.interval" in proc.stderr
    want = ["1.19.0", "1.20.0", "1.21.0-alpine"]
    for prefix in ("ours", "skopeo", "regsync"):
        assert tags_at(fresh_registry, f"{prefix}/app") == want, prefix
        assert tags_at(fresh_registry, f"{prefix}/tool") == ["v1"], prefix
        for tag in want:
            assert sha256(skopeo_raw_manifest(fresh_registry, f"{prefix}/app:{tag}")) == app[tag].digest


def test_no_pull_rights_and_a_broken_image_are_named_the_rest_synced(
        registry: Registry, basic_registry: Registry, fresh_registry: Registry, tmp_path: Path) -> None:
    rng = random.Random(122)
    good, broken = valid_image(rng, (800,)), valid_image(rng, (850,))
    seed(registry, "sync/parts", "good", good)
    seed(registry, "sync/parts", "broken", broken)
    layer = next(d for d in broken.blobs if d != json.loads(broken.raw)["config"]["digest"])
    request = urllib.request.Request(f"{registry.url}/v2/sync/parts/blobs/{layer}", method="DELETE")
    with urllib.request.urlopen(request, timeout=30) as resp:
        assert resp.status == 202  # the manifest stays, its layer is gone
    config = tmp_path / "sync.yaml"
    config.write_text(f"""\
mirrors:
  - source: {registry.host}/sync/parts
    target: {fresh_registry.host}/mirror/parts
  - source: {basic_registry.host}/private/app
    target: {fresh_registry.host}/mirror/private
""")
    out = tmp_path / "results.jsonl"
    proc = sync(tmp_path / "state", "-f", str(config), "--results", str(out),
                "--registry-insecure", basic_registry.host)
    assert proc.returncode == 1, proc.stderr
    rows = results(out)
    assert rows[f"{registry.host}/sync/parts:good"]["outcome"] == "added"
    assert rows[f"{registry.host}/sync/parts:broken"]["outcome"] == "failed"
    assert layer in str(rows[f"{registry.host}/sync/parts:broken"]["error"])
    denied = rows[f"{basic_registry.host}/private/app"]
    assert denied["outcome"] == "failed" and "401" in str(denied["error"]), denied
    assert tags_at(fresh_registry, "mirror/parts") == ["good"]
    assert f"failed {basic_registry.host}/private/app" in proc.stdout


def test_shards_split_the_work_and_together_do_it_all(registry: Registry, fresh_registry: Registry,
                                                      app: dict[str, Image], tmp_path: Path) -> None:
    src, dst = f"{registry.host}/sync/app", f"{fresh_registry.host}/mirror/sharded"
    added: list[str] = []
    for index in range(3):  # one after another: each later shard sees what the earlier ones copied
        out = tmp_path / f"results-{index}.jsonl"
        proc = sync(tmp_path / f"state-{index}", src, dst, "--shard", f"{index}/3", "--results", str(out))
        assert proc.returncode == 0, proc.stderr
        added += [k for k, r in results(out).items() if r["outcome"] == "added"]
    assert sorted(added) == sorted(f"{src}:{tag}" for tag in APP_TAGS)  # each tag copied by one shard
    assert tags_at(fresh_registry, "mirror/sharded") == sorted(APP_TAGS)


def test_a_whole_registry_is_mirrored_under_a_prefix(fresh_registry: Registry, tmp_path: Path) -> None:
    source = start_registry(tmp_path / "source")
    try:
        rng = random.Random(123)
        images = {"team/a:v1": valid_image(rng, (600,)), "team/a:v2": valid_image(rng, (650,)),
                  "b:1.0": valid_image(rng, (700,))}
        for name, image in images.items():
            repo, tag = name.split(":")
            seed(source, repo, tag, image)
        config = tmp_path / "sync.yaml"
        config.write_text(f"mirrors:\n  - source: {source.host}\n    target: {fresh_registry.host}/all\n"
                          "    tags: {deny: ['v2']}\n")
        listed = sync(tmp_path / "state", "-f", str(config), "--list-tags")
        assert listed.stdout.splitlines() == [
            f"{source.host}/b -> {fresh_registry.host}/all/b: 1.0",
            f"{source.host}/team/a -> {fresh_registry.host}/all/team/a: v1"]
        proc = sync(tmp_path / "state", "-f", str(config))
        assert proc.returncode == 0, proc.stderr
        assert tags_at(fresh_registry, "all/team/a") == ["v1"] and tags_at(fresh_registry, "all/b") == ["1.0"]
        assert sha256(skopeo_raw_manifest(fresh_registry, "all/team/a:v1")) == images["team/a:v1"].digest
    finally:
        source.stop()


def test_one_source_fans_out_to_two_targets_and_list_tags_merges_entries(
        registry: Registry, fresh_registry: Registry, app: dict[str, Image], tmp_path: Path) -> None:
    config = tmp_path / "regsync.yaml"
    src, dst = f"{registry.host}/sync/app", fresh_registry.host
    entry = "  - source: {}\n    target: {}\n    tags: {{allow: ['{}']}}\n"
    config.write_text("sync:\n" + entry.format(src, f"{dst}/fan/a", "1[.]19[.]0")
                      + entry.format(src, f"{dst}/fan/b", "1[.]19[.]0")
                      + entry.format(src, f"{dst}/fan/b", "2[.]0[.]0"))
    listed = sync(tmp_path / "state", "-f", str(config), "--list-tags")
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.splitlines() == [f"{src} -> {dst}/fan/a: 1.19.0",
                                          f"{src} -> {dst}/fan/b: 1.19.0 2.0.0"]
    out = tmp_path / "results.jsonl"
    layer = list(app["1.19.0"].blobs)[-1]
    before = registry.requests("GET", f"sync/app/blobs/{layer}")
    done = sync(tmp_path / "state", "-f", str(config), "--results", str(out))
    assert done.returncode == 0, done.stderr
    assert tags_at(fresh_registry, "fan/a") == ["1.19.0"]
    assert tags_at(fresh_registry, "fan/b") == ["1.19.0", "2.0.0"]
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted((r["destination"], r["outcome"]) for r in rows) == [
        (f"{dst}/fan/a:1.19.0", "added"), (f"{dst}/fan/b:1.19.0", "added"), (f"{dst}/fan/b:2.0.0", "added")]
    assert sha256(skopeo_raw_manifest(fresh_registry, "fan/b:1.19.0")) == app["1.19.0"].digest
    # Each blob of 1.19.0 was read from the source once for both targets.
    assert registry.requests("GET", f"sync/app/blobs/{layer}") - before == 1
    skopeo_file = tmp_path / "skopeo.yaml"
    skopeo_file.write_text(f"{registry.host}:\n  images:\n    sync/app: [1.19.0, 2.0.0]\n")
    listed = sync(tmp_path / "state", "-f", str(skopeo_file), "--dest", f"{dst}/sk", "--list-tags", "--json")
    tags = reports.load(listed.stdout)["details"]["tags"]
    assert tags == {f"{src} -> {dst}/sk/app": ["1.19.0", "2.0.0"]}, listed.stderr


def test_a_registry_alone_on_the_command_line_is_its_whole_catalog(fresh_registry: Registry,
                                                                     tmp_path: Path) -> None:
    source = start_registry(tmp_path / "cat")
    try:
        seed(source, "one/app", "v1", valid_image(random.Random(7), (300,)))
        listed = sync(tmp_path / "state", source.host, f"{fresh_registry.host}/backup", "--list-tags")
        assert listed.returncode == 0, listed.stderr
        assert listed.stdout.splitlines() == [
            f"{source.host}/one/app -> {fresh_registry.host}/backup/one/app: v1"]
    finally:
        source.stop()


async def test_an_interrupted_sync_still_writes_its_results(registry: Registry, fresh_registry: Registry,
                                                           app: dict[str, Image], tmp_path: Path) -> None:
    stalled = list(app["1.19.0"].blobs)[-1]
    proxy = await FaultProxy(registry, blob_faults={stalled: "stall"}).start()  # never answers
    config, out = tmp_path / "sync.yaml", tmp_path / "results.jsonl"
    src, dst = proxy.host, fresh_registry.host
    config.write_text(f"mirrors:\n  - source: {src}/sync/tool:v1\n    target: {dst}/int/tool\n"
                      f"  - source: {src}/sync/app:1.19.0\n    target: {dst}/int/app\n")
    try:
        proc = await _interrupt(["sync", "-f", str(config), "--results", str(out)], signal.SIGTERM,
                                after_done=1)
    finally:
        await proxy.stop()
    assert proc.returncode == 128 + signal.SIGTERM, proc.stderr
    assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr
    rows = {r["reference"]: r for r in map(json.loads, out.read_text().splitlines())}
    assert rows[f"{proxy.host}/sync/tool:v1"]["outcome"] == "added"
    assert rows[f"{proxy.host}/sync/tool:v1"]["destination_digest"] == app["tool:v1"].digest
    assert rows[f"{proxy.host}/sync/app:1.19.0"]["outcome"] == "not finished"
    assert "sync: 1 added, 1 not finished" in proc.stdout
    assert tags_at(fresh_registry, "int/tool") == ["v1"] and tags_at(fresh_registry, "int/app") == []


def test_another_job_writing_one_of_the_same_repositories_is_refused(
        registry: Registry, fresh_registry: Registry, tmp_path: Path) -> None:
    # A nightly config over many repositories and a one-off `sync SRC DST` for one of them are
    # different jobs (different lock keys): the second used to run alongside, both writing.
    image = valid_image(random.Random(121), (700,))
    seed(fresh_registry, "locked/tool", "v1", image)
    seed(fresh_registry, "locked/other", "v1", valid_image(random.Random(122), (600,)))
    dst = f"{registry.host}/lock-{os.getpid()}"
    held = f"{dst}/locked/tool"
    state = tmp_path / "state"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import time; from relocator.stores.runlock import target_locks\n"
         f"with target_locks('x') as t:\n t.take([{held!r}]); print('held', flush=True); time.sleep(300)"],
        stdout=subprocess.PIPE, text=True, env={**os.environ, "RELOCATOR_STATE_DIR": str(state)})
    refusal = (f"another sync writing {held} is still running (pid {holder.pid}); "
               "refusing to start a second")
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        one = sync(state, f"{fresh_registry.host}/locked/tool:v1", held)
        assert (one.returncode, one.stderr) == (2, f"relocator: error: this pair: {refusal}\n")
        config = tmp_path / "sync.yaml"  # the whole registry: the held repository shows in its catalog
        config.write_text(f"mirrors:\n  - source: {fresh_registry.host}\n    target: {dst}\n")
        whole = sync(state, "-f", str(config))
        assert (whole.returncode, whole.stderr) == (2, f"relocator: error: {config}: {refusal}\n")
        assert tags_at(registry, f"lock-{os.getpid()}/locked/tool") == []
        assert tags_at(registry, f"lock-{os.getpid()}/locked/other") == []  # refused before any copy
        looked = sync(state, "-f", str(config), "--dry-run")  # writes nothing, so blocks nothing
        assert looked.returncode == 0, looked.stderr
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
        if holder.stdout is not None:
            holder.stdout.close()
    taken = sync(state, "-f", str(config))
    assert taken.returncode == 0, taken.stderr
    assert tags_at(registry, f"lock-{os.getpid()}/locked/tool") == ["v1"]
    assert sha256(skopeo_raw_manifest(registry, f"lock-{os.getpid()}/locked/tool:v1")) == image.digest
