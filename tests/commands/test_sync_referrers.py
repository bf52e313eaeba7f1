"""sync moves referrers with the tags it syncs, and never syncs referrer bookkeeping tags as images."""

from __future__ import annotations

from pathlib import Path

from tests import reports
from tests.commands.test_sync import results, sync, tags_at
from tests.referrers import (
    attached,
    by_tag,
    descriptor_of,
    fallback_tag,
    legacy_tag,
    seed_attached,
    tagged_digest,
)
from tests.registries import Registry


def test_sync_carries_referrers_and_skips_their_tags(registry: Registry, fresh_registry: Registry,
                                                     tmp_path: Path) -> None:
    fix = attached(140)
    seed_attached(registry, "syncref/app", "v1", fix, fallback=True)
    plain = attached(141)
    seed_attached(registry, "syncref/plain", "v1", plain, fallback=True)
    # The source keeps its lists under fallback tags: they are not images of their own.
    assert by_tag(registry, "syncref/app", fix.index.children[0].digest)
    config = tmp_path / "sync.yaml"
    config.write_text(f"mirrors:\n"
                      f"  - source: {registry.host}/syncref/app\n    target: {fresh_registry.host}/app\n"
                      f"  - source: {registry.host}/syncref/plain\n    target: {fresh_registry.host}/plain\n"
                      "    referrers: none\n")
    out = tmp_path / "results.jsonl"
    proc = sync(tmp_path / "state", "-f", str(config), "--results", str(out), "--json")
    assert proc.returncode == 0, proc.stderr
    assert set(results(out)) == {f"{registry.host}/syncref/app:v1", f"{registry.host}/syncref/plain:v1"}
    assert reports.load(proc.stdout)["counts"]["referrers"] == 6
    assert "not applied" not in proc.stderr
    for subject, referrer in fix.linked:
        assert by_tag(fresh_registry, "app", subject)[referrer.digest] == descriptor_of(referrer)
    assert tagged_digest(fresh_registry, "app", legacy_tag(fix.index)) == fix.sig.digest
    assert set(tags_at(fresh_registry, "app")) == {"v1", legacy_tag(fix.index), *(
        fallback_tag(s) for s, _ in fix.linked)}
    assert tags_at(fresh_registry, "plain") == ["v1"]  # referrers: none
    assert all(tagged_digest(fresh_registry, "plain", r.digest) is None for r in plain.all)
