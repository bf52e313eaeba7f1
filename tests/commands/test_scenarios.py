"""bench's scenario names and mixed batches, against zot's zb (cmd/zb/perf.go, testSuite)."""

from __future__ import annotations

from collections import Counter

from relocator.commands.scenarios import MIB, mixed_name, mixed_sizes, scenario_name


def test_names_are_zbs_where_they_overlap() -> None:
    assert [scenario_name("push", n * MIB, "monolithic", None) for n in (1, 10, 100)] == [
        "Push Monolith 1MB", "Push Monolith 10MB", "Push Monolith 100MB"]
    assert scenario_name("push", 10 * MIB, "chunked", None) == "Push Chunk Streamed 10MB"
    assert scenario_name("push", 10 * MIB, "chunked", 10 * MIB) == "Push Chunk Streamed 10MB"
    assert scenario_name("push", 10 * MIB, "chunked", 5 * MIB) == "Push Chunked 10MB in 5MB chunks"
    assert scenario_name("pull", 100 * MIB, "monolithic", None) == "Pull 100MB"
    assert mixed_name("monolithic") == "Push Monolith Mixed 20% 1MB, 70% 10MB, 10% 100MB"
    assert mixed_name("chunked") == "Push Chunk Mixed 33% 1MB, 33% 10MB, 33% 100MB"
    assert mixed_name("pull") == "Pull Mixed 20% 1MB, 70% 10MB, 10% 100MB"
    assert scenario_name("manifest get", MIB, "monolithic", None) == "Manifest Get"
    assert scenario_name("mount", 256 << 10, "monolithic", None) == "Copy Mount 256KB"


def test_mixed_batches_follow_the_shares_and_repeat() -> None:
    assert Counter(mixed_sizes("monolithic", 10)) == {MIB: 2, 10 * MIB: 7, 100 * MIB: 1}
    assert Counter(mixed_sizes("monolithic", 16)) == {MIB: 3, 10 * MIB: 11, 100 * MIB: 2}
    assert Counter(mixed_sizes("chunked", 7)) == {MIB: 3, 10 * MIB: 2, 100 * MIB: 2}
    assert Counter(mixed_sizes("pull", 5)) == {MIB: 1, 10 * MIB: 4}
    assert mixed_sizes("pull", 30) == mixed_sizes("pull", 30)  # the same sequence every run
    assert len(set(mixed_sizes("pull", 30)[:10])) > 1  # interleaved, not grouped by size
