"""`relocator resolve`: tags to digests in YAML, kbld-compatible, comments kept."""

from __future__ import annotations

import argparse
import asyncio
import time
from dataclasses import dataclass, field
from io import StringIO
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ruamel.yaml import YAML
from ruamel.yaml.scalarstring import LiteralScalarString

from relocator.auth import CredentialStore
from relocator.auth.credentials import ANY_HOST
from relocator.commands.args import add_global_flags, add_registry_flags, output_file, settings_from
from relocator.commands.common import open_client
from relocator.commands.credentials import credential_store
from relocator.config import Settings
from relocator.errors import InputError, NotFound, RelocatorError
from relocator.frontends.inputs import read_files
from relocator.frontends.lockfile import render_imgpkg_lock, render_lock
from relocator.frontends.yamldocs import Occurrence, SearchRules, YamlFile
from relocator.oci import Reference
from relocator.oci.reference import kbld_registry
from relocator.stores.files import write_atomic
from relocator.ui import print_error, print_json, print_raw
from relocator.ui.jsonreport import image_record, report_json

if TYPE_CHECKING:  # a type only: the client is handed in; aiohttp loads with open_client
    from relocator.registry import RegistryClient

__all__ = ["Resolution", "ResolveOptions", "kbld_form", "read_yaml_inputs", "register", "resolve", "run"]

ANNOTATION = "kbld.k14s.io/images"


@dataclass(frozen=True, slots=True)
class Resolution:
    """What ``resolve`` found: the pinned YAML (None when any reference failed); each distinct
    reference as written with its pinned form and how (``resolved``: a tag looked up; ``pinned``:
    it named a digest, or a lock file's override applied); each failure as (the reference as
    written, one line naming the file, the document and the YAML path)."""

    yaml: str | None
    pinned: list[tuple[str, str, str]]
    failures: list[tuple[str, str]]


@dataclass(frozen=True, slots=True, kw_only=True)
class ResolveOptions:
    """What to write besides the YAML."""

    lock_output: Path | None = None
    imgpkg_lock_output: Path | None = None
    images_annotation: bool = False
    credentials: CredentialStore | None = None  # from the command line's credential flags


@dataclass(slots=True)
class _Found:
    occurrence: Occurrence
    file: YamlFile
    ref: Reference
    new: str = ""
    origin: dict[str, object] = field(default_factory=dict)


def kbld_form(ref: Reference) -> str:
    """kbld's canonical pinned form: ``index.docker.io/library/nginx@sha256:...``."""
    registry = kbld_registry(ref.repository.registry)
    return f"{registry}/{ref.repository.path}@{ref.digest}"


def read_yaml_inputs(names: list[str]) -> list[YamlFile]:
    """YAML streams from files, directories (recursively, .yml/.yaml) and ``-`` (frontends.inputs
    ``read_files``: the same reading as every ``-f``). Raises InputError naming the file."""
    return [YamlFile("<stdin>" if name == "-" else name, text) for name, text in read_files(names)]


async def resolve(settings: Settings, names: list[str], options: ResolveOptions) -> Resolution:
    """Every reference pinned, and the YAML with them; lock files written only when all resolved.
    Raises InputError for a file that cannot be read as YAML (frontends.inputs)."""
    files = read_yaml_inputs(names)
    rules = SearchRules()
    for f in files:
        for config in f.configs():
            rules.add_config(config, f.name)
    found: list[_Found] = []
    errors: list[tuple[str, str]] = []
    for f in files:
        for occ in f.occurrences(rules):
            try:
                found.append(_Found(occ, f, Reference.parse(occ.value)))
            except InputError as exc:
                errors.append((occ.value, f"{f.name}: {occ.where}: {exc}"))
    pending: dict[Reference, list[_Found]] = {}
    for item in found:
        override = rules.overrides.get(item.occurrence.value)
        if override is not None:
            item.new, item.origin = override, {"preresolved": {"url": override}}
        elif item.ref.digest is not None:
            item.new = kbld_form(item.ref)
            item.origin = {"preresolved": {"url": item.occurrence.value}}
        else:
            pending.setdefault(item.ref, []).append(item)
    if pending:
        async with open_client(settings, credentials=options.credentials) as client:
            errors += await _resolve_tags(client, pending, settings.limits.concurrency)
    pinned = list(dict.fromkeys((i.occurrence.value, i.new, "resolved" if "resolved" in i.origin
                                 else "pinned") for i in found if i.new))
    if errors:
        return Resolution(None, pinned, errors)
    for item in found:
        item.occurrence.replace(item.new)
    if options.images_annotation:
        _annotate(found)
    pairs = list(dict.fromkeys((i.occurrence.value, i.new) for i in found))
    if options.lock_output is not None:
        write_atomic(options.lock_output, render_lock(pairs))
    if options.imgpkg_lock_output is not None:
        write_atomic(options.imgpkg_lock_output, render_imgpkg_lock(pairs))
    dumps = [f.dump() for f in files]
    return Resolution("".join(d if i == 0 or d.startswith("---") else f"---\n{d}"
                              for i, d in enumerate(x for x in dumps if x)), pinned, [])


async def _resolve_tags(client: RegistryClient, pending: dict[Reference, list[_Found]],
                        concurrency: int) -> list[tuple[str, str]]:
    gate = asyncio.Semaphore(concurrency)

    async def one(ref: Reference, items: list[_Found]) -> list[tuple[str, str]]:
        try:
            async with gate:
                desc = await client.head_manifest(ref)
            if desc is None:
                raise NotFound(f"{ref}: tag {ref.tag or 'latest'!r} not found in {ref.repository}")
        except RelocatorError as exc:
            return [(i.occurrence.value, f"{i.file.name}: {i.occurrence.where}: {i.occurrence.value}: {exc}")
                    for i in items]
        pinned = ref.with_digest(desc.digest)
        for item in items:
            item.new = kbld_form(pinned)
            item.origin = {"resolved": {"tag": ref.tag or "latest", "url": item.occurrence.value}}
        return []

    results = await asyncio.gather(*(one(r, i) for r, i in pending.items()))
    return [line for lines in results for line in lines]


def _annotate(found: list[_Found]) -> None:
    by_doc: dict[tuple[int, int], list[_Found]] = {}
    for item in found:
        by_doc.setdefault((id(item.file), item.occurrence.document), []).append(item)
    yaml = YAML()
    yaml.default_flow_style = False
    for items in by_doc.values():
        doc = items[0].file.docs[items[0].occurrence.document]
        if not isinstance(doc, dict):
            continue
        entries = list({i.new: {"origins": [i.origin], "url": i.new} for i in items}.values())
        out = StringIO()
        yaml.dump(entries, out)
        metadata = doc.setdefault("metadata", {})
        if isinstance(metadata, dict):
            annotations = metadata.get("annotations")
            if not isinstance(annotations, dict):
                annotations = metadata["annotations"] = {}
            annotations[ANNOTATION] = LiteralScalarString(out.getvalue())


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``resolve -f FILE|DIR|- [--lock-output L] [--imgpkg-lock-output L] [--images-annotation]``."""
    p = sub.add_parser("resolve", help="pin image references in YAML to digests (kbld compatible)")
    p.add_argument("-f", "--file", action="append", required=True, metavar="FILE|DIR|-",
                   help="YAML file, directory (recursive .yml/.yaml) or '-' for stdin; repeatable")
    p.add_argument("--lock-output", type=output_file, metavar="FILE", help="write a kbld lock file")
    p.add_argument("--imgpkg-lock-output", type=output_file, metavar="FILE",
                   help="write an imgpkg ImagesLock")
    p.add_argument("--images-annotation", action="store_true",
                   help="annotate resources with kbld.k14s.io/images")
    p.add_argument("--json", action="store_true",
                   help="print a JSON report (the pinned YAML in details.yaml) instead of the YAML")
    add_registry_flags(p)
    add_global_flags(p, top=False)
    p.set_defaults(run=run)


async def run(args: argparse.Namespace) -> int:
    """Print the pinned YAML, or the JSON report (an image record per distinct reference); one
    line per reference that could not be resolved, exit 1."""
    options = ResolveOptions(lock_output=args.lock_output, imgpkg_lock_output=args.imgpkg_lock_output,
                             images_annotation=args.images_annotation,
                             credentials=credential_store(args, sources=[ANY_HOST], destinations=()))
    started = time.monotonic()
    result = await resolve(settings_from(args), args.file, options)
    if args.json:
        print_json(_report(result, options, time.monotonic() - started))
    elif result.yaml is not None:
        print_raw(result.yaml)
    else:
        for _, line in result.failures:
            print_error(line)
    return 1 if result.failures else 0


def _report(result: Resolution, options: ResolveOptions, seconds: float) -> dict[str, Any]:
    """resolve's JSON report: ``destination`` is the pinned reference written into the YAML,
    ``source_digest`` its digest; ``details``: the YAML (null when a reference failed) and the
    lock files written."""
    images = [image_record(value, how, source_digest=new.rpartition("@")[2] if "@" in new else None,
                           destination=new) for value, new, how in result.pinned]
    images += [image_record(value, "failed", error=line) for value, line in result.failures]
    written = result.yaml is not None
    return report_json("resolve", images, seconds=seconds, details={
        "yaml": result.yaml,
        "lock_output": str(options.lock_output) if written and options.lock_output else None,
        "imgpkg_lock_output": str(options.imgpkg_lock_output) if written and options.imgpkg_lock_output
        else None})
