"""Reading a ``--json`` report in tests: parsed and checked against the schema shipped in the
package (relocator/ui/report.schema.json), then looked up the way tests ask about it."""

from __future__ import annotations

import json
from importlib.resources import files
from typing import Any

from jsonschema import Draft202012Validator

from relocator.oci import Reference

SCHEMA: dict[str, Any] = json.loads((files("relocator.ui") / "report.schema.json").read_text())
VALIDATOR = Draft202012Validator(SCHEMA)


def load(text: str | bytes) -> dict[str, Any]:
    """The report in ``text``; an AssertionError naming every place it breaks the schema."""
    data: dict[str, Any] = json.loads(text)
    errors = sorted(VALIDATOR.iter_errors(data), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors)
    return data


def errors(report: dict[str, Any]) -> dict[str, str]:
    """Each failed image's error, by reference, in the report's order."""
    return {i["reference"]: i["error"] for i in report["images"] if i["outcome"] == "failed"}


def copied(report: dict[str, Any]) -> dict[str, str]:
    """Each copied image's ``REPOSITORY@DIGEST`` at the destination, by reference, in order."""
    out = {}
    for image in report["images"]:
        if image["outcome"] == "copied":
            where = Reference.parse(image["destination"]).repository
            out[image["reference"]] = f"{where}@{image['destination_digest']}"
    return out


def sources(report: dict[str, Any]) -> dict[str, str]:
    """Each image's source digest where it differs from the digest written (a platform selection),
    by reference."""
    return {i["reference"]: i["source_digest"] for i in report["images"]
            if i["destination_digest"] is not None and i["source_digest"] != i["destination_digest"]}
