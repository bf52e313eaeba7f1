"""The JSON report built from an engine Report, without a network: every image gets a record, in
the order asked, and an interrupted run's unfinished images say so."""

from __future__ import annotations

import json

from relocator.engine.events import Outcome, Report
from relocator.engine.target import Target
from relocator.oci import Digest, Reference
from relocator.ui.jsonreport import copy_report
from tests.reports import load

ROOT = Digest.parse("sha256:" + "a" * 64)


def _target(label: str) -> Target:
    return Target(label, Reference.parse(f"src.example/{label}:v1").with_digest(ROOT),
                  Reference.parse(f"dst.example/m/{label}:v1").with_digest(ROOT), ROOT)


def test_an_interrupted_run_reports_copied_failed_and_not_finished_in_order() -> None:
    report = Report(images=["a", "b", "c", "d"], interrupted=True, seconds=2.0, output="out.tar")
    report.targets = {label: _target(label) for label in ("a", "b", "c")}  # d failed at planning
    report.done["c"] = _target("c").destination.with_tag(None)
    report.failed.update({"b": "source: 500", "d": "not found"})
    report.count(Outcome.TRANSFERRED, 2_000_000)
    data = load(json.dumps(copy_report("pkg", report)))
    assert [(i["reference"], i["outcome"]) for i in data["images"]] == [
        ("a", "not finished"), ("b", "failed"), ("c", "copied"), ("d", "failed")]
    c = data["images"][2]
    assert (c["source_digest"], c["destination"], c["destination_digest"]) == (
        str(ROOT), "dst.example/m/c:v1", str(ROOT))
    assert data["images"][3]["source_digest"] is None and data["images"][3]["error"] == "not found"
    assert data["counts"]["outcomes"] == {"copied": 1, "failed": 2, "not finished": 1}
    assert data["throughput"] == {"bytes": 2_000_000, "seconds": 2.0, "mb_per_s": 1.0}
    assert data["interrupted"] is True
    assert data["output"] == {"path": "out.tar", "written": False, "without": []}
