"""`relocator copy SRC DST`: one engine between any two stores, in skopeo's transport spellings."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable

from relocator.commands.args import (
    add_copy_flags,
    add_global_flags,
    add_registry_flags,
    platform_selection,
    referrer_policy,
    settings_from,
)
from relocator.commands.common import open_client, write_lock_if_complete
from relocator.commands.credentials import credential_store
from relocator.commands.report import finish_after
from relocator.engine.copy import copy
from relocator.engine.events import Report
from relocator.engine.target import ImageInput
from relocator.errors import BadReference, InputError
from relocator.frontends.layout_names import entry_name
from relocator.oci import Reference
from relocator.oci.dockerarchive import CONTAINERD_NAME
from relocator.oci.layout import IndexEntry
from relocator.stores.base import BlobSource
from relocator.stores.layout_source import LayoutSource
from relocator.stores.locate import Location, check_destination, open_source, parse_location, sink_for
from relocator.stores.registry import RegistryStore
from relocator.stores.sources import ForeignLayers
from relocator.ui.render import choose_reporter

__all__ = ["register", "run"]

Mapper = Callable[[Reference], Reference]


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``copy SRC DST [--lock-output L] [--json]``."""
    p = sub.add_parser(
        "copy", help="copy images between any two stores (docker://, oci:, oci-archive:, docker-archive:)",
        description="SRC: docker://REF or REF, oci:DIR[:NAME], oci-archive:FILE[:NAME], "
                    "docker-archive:FILE[:NAME], or a path read by its content (OCI layout, tarball, "
                    "Docker archive, Carvel tarball). DST: docker://REF or REF, oci:DIR[:NAME], "
                    "oci-archive:FILE[:NAME]. Without NAME every image of a layout is copied.")
    p.add_argument("source", metavar="SRC")
    p.add_argument("destination", metavar="DST")
    add_copy_flags(p)
    add_registry_flags(p)
    add_global_flags(p, top=False)
    p.set_defaults(run=run)


async def run(args: argparse.Namespace) -> int:
    """Copy; the summary or --json report names every failure (exit 1); bad locations exit 2."""
    referrer_policy(args)  # a bad --referrers or --platform is refused before anything is read
    platform_selection(args)
    src = parse_location(args.source, role="source")
    dst = parse_location(args.destination, role="destination")
    check_destination(dst)
    _check_digest(src, dst)
    report = Report()
    return await finish_after("copy", _copy(args, src, dst, report), report, args.json)


async def _copy(args: argparse.Namespace, src: Location, dst: Location, report: Report) -> None:
    """The copy itself, filling ``report`` as it goes; the lock file if every image made it."""
    settings = settings_from(args, chunk_size=args.chunk_size)
    layout = await asyncio.to_thread(open_source, src)
    try:
        inputs = _inputs(src, layout)
        mapper = _mapper(dst, inputs)
        credentials = credential_store(
            args, sources=[src.reference.repository.registry] if src.reference is not None else [],
            destinations=[dst.reference.repository.registry] if dst.reference is not None else [])
        async with open_client(settings, credentials=credentials) as client:
            source: BlobSource = layout if layout is not None else RegistryStore(client)
            if args.include_non_distributable_layers:
                source = ForeignLayers(source, client)
            sink = sink_for(dst, client, chunk_size=settings.limits.chunk_size)
            reporter = choose_reporter(args.json, _into(dst))
            plan, _ = await copy(source, sink, inputs, mapper, settings.limits, reporter,
                                 include_non_distributable=args.include_non_distributable_layers,
                                 fail_fast=args.fail_fast, referrers=referrer_policy(args),
                                 platforms=platform_selection(args),
                                 report=report)
    finally:
        if layout is not None:
            layout.close()
    report.notes += layout.notes if layout is not None else []
    write_lock_if_complete(args.lock_output, plan, report, platform_selection(args))


def _check_digest(src: Location, dst: Location) -> None:
    """A registry destination with a digest is refused unless the source names the same one: the
    copy keeps the source's bytes, so it cannot make another digest (skopeo's rule: "Digest of
    source image's manifest would not match destination reference")."""
    target = dst.reference
    if target is None or target.digest is None:
        return
    if src.reference is not None and src.reference.digest == target.digest:
        return
    raise InputError(f"destination {dst.text!r}: a destination names a tag, not a digest (write "
                     f"{Reference(target.repository, target.tag)}; the image keeps its own digest)")


def _inputs(src: Location, layout: LayoutSource | None) -> list[ImageInput]:
    """One input for a registry reference; every (or the NAMEd) entry of a layout, named as
    frontends.layout_names reads it (a bare tag or no name stays in UNNAMED)."""
    if src.reference is not None:
        ref = src.reference
        if ref.tag is None and ref.digest is None:
            ref = ref.with_tag("latest")
        return [ImageInput(src.text, ref, "source")]
    assert layout is not None
    picks = _picker(src)
    inputs: dict[Reference, ImageInput] = {}
    for entry in layout.entries:
        if not picks(entry):
            continue
        name = entry_name(layout.where, entry)
        label = name.label
        if not name.named_repository:  # "v1" alone says nothing in a report: say where it is
            where = src.text if src.name is None else src.text[: -len(src.name) - 1]
            label = f"{where}:{name.ref.tag}" if name.tag_only else f"{where}@{name.ref.digest}"
        inputs.setdefault(name.ref, ImageInput(label, name.ref, layout.where))
    if not inputs:
        count = len({e.position for e in layout.entries})
        which = (f"no item {src.name}: manifest.json lists {count} (@0 to @{count - 1})"
                 if src.name and src.name.startswith("@") and src.scheme == "docker-archive" and count
                 else f"no image named {src.name!r}" if src.name else "no images")
        raise InputError(f"source {src.text!r}: {which}")
    return list(inputs.values())


def _names_of(entry: IndexEntry) -> set[str | None]:
    """What ``oci:DIR:NAME`` may say to pick an entry: its ref.name or its containerd name."""
    return {entry.ref_name, entry.descriptor.annotations.get(CONTAINERD_NAME)}


def _picker(src: Location) -> Callable[[IndexEntry], bool]:
    """Which entries SRC's NAME picks: all without one. ``oci:`` and ``oci-archive:`` compare the
    name as written (skopeo matches ref.name exactly); ``docker-archive:`` compares references,
    so ``app:v1`` picks ``docker.io/library/app:v1`` and no tag means ``latest`` (skopeo parses
    NAME and RepoTags with reference.ParseNormalizedNamed). Raises InputError for a NAME that is
    no reference there."""
    if src.name is None:
        return lambda entry: True
    name = src.name
    if src.scheme != "docker-archive":
        return lambda entry: name in _names_of(entry)
    if name.startswith("@"):  # skopeo's docker-archive:FILE:@N, the Nth item of manifest.json
        if not name[1:].isdecimal():
            raise InputError(f"source {src.text!r}: @{name[1:]} is no item number (@0 is the first)")
        position = int(name[1:])
        return lambda entry: entry.position == position
    try:
        want = _normalized(name)
    except BadReference as exc:
        raise InputError(f"source {src.text!r}: {exc.reason}") from None

    def picks(entry: IndexEntry) -> bool:
        for text in _names_of(entry):
            try:
                if text is not None and _normalized(text) == want:
                    return True
            except BadReference:
                continue  # a name that is no reference (a bare tag) is never a docker-archive NAME
        return False

    return picks


def _normalized(text: str) -> Reference:
    ref = Reference.parse(text)
    return ref if ref.tag is not None or ref.digest is not None else ref.with_tag("latest")


def _mapper(dst: Location, inputs: list[ImageInput]) -> Mapper:
    """A registry destination names one image (no tag means ``latest``); a layout destination
    keeps each source's name (oci.layout.ref_name) unless DST gives one NAME, which fits one
    image only."""
    if dst.reference is None:
        if dst.name is not None and len(inputs) > 1:
            raise InputError(f"destination {dst.text!r}: one NAME for {len(inputs)} images; "
                             "leave the name out to keep each image's own")
        return lambda ref: ref
    target = dst.reference
    if len(inputs) > 1:
        raise InputError(f"destination {dst.text!r} names one image, the source holds {len(inputs)}")
    tag = target.tag if target.tag is not None or target.digest is not None else "latest"
    return lambda ref: Reference(target.repository, tag=tag, digest=ref.digest)


def _into(dst: Location) -> str | None:
    return str(dst.path) if dst.path is not None else None
