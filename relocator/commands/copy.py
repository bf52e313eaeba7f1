"""`relocator copy SRC DST`: one engine between any two stores, in skopeo's transport spellings."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable
from pathlib import Path

from relocator.commands.args import add_global_flags, add_registry_flags, settings_from, size
from relocator.commands.common import open_client, write_lock_if_complete
from relocator.commands.report import finish
from relocator.engine.copy import copy
from relocator.engine.target import ImageInput
from relocator.errors import BadReference, InputError
from relocator.oci import Reference
from relocator.registry import RegistryClient
from relocator.stores.base import BlobSink, BlobSource
from relocator.stores.layout_source import LayoutSource, open_layout
from relocator.stores.locate import Location, parse_location
from relocator.stores.registry import RegistryStore
from relocator.stores.tarball import TarballFile
from relocator.ui.render import choose_reporter

__all__ = ["register", "run"]

Mapper = Callable[[Reference], Reference]
_ARCHIVE_SUFFIXES = (".tar", ".tar.gz", ".tgz")


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
    p.add_argument("--lock-output", type=Path, metavar="FILE", help="write a kbld lock file")
    p.add_argument("--chunk-size", type=size, metavar="BYTES", help="upload in chunks of this size")
    p.add_argument("--include-non-distributable-layers", action="store_true")
    p.add_argument("--json", action="store_true", help="print a JSON report")
    add_registry_flags(p)
    add_global_flags(p, top=False)
    p.set_defaults(run=run)


async def run(args: argparse.Namespace) -> int:
    """Copy; the summary or --json report names every failure (exit 1); bad locations exit 2."""
    src = parse_location(args.source, role="source")
    dst = parse_location(args.destination, role="destination")
    _check_destination(dst)
    settings = settings_from(args, chunk_size=args.chunk_size)
    layout = await asyncio.to_thread(open_layout, src.path) if src.path is not None else None
    try:
        inputs = _inputs(src, layout)
        mapper = _mapper(dst, inputs)
        async with open_client(settings) as client:
            source: BlobSource = layout if layout is not None else RegistryStore(client)
            plan, report = await copy(source, _sink(dst, client, settings.limits.chunk_size), inputs,
                                      mapper, settings.limits, choose_reporter(args.json, _into(dst)),
                                      include_non_distributable=args.include_non_distributable_layers)
    finally:
        if layout is not None:
            layout.close()
    report.notes += layout.notes if layout is not None else []
    write_lock_if_complete(args.lock_output, plan, report)
    return finish(report, args.json)


def _check_destination(dst: Location) -> None:
    if dst.scheme == "docker-archive":
        raise InputError(f"destination {dst.text!r}: docker-archive is read only here; "
                         "write oci-archive:FILE or oci:DIR")
    if dst.scheme == "path":
        raise InputError(f"destination {dst.text!r}: name the format: oci:DIR or oci-archive:FILE")
    if dst.reference is not None and dst.text.endswith(_ARCHIVE_SUFFIXES):
        raise InputError(f"destination {dst.text!r} looks like a file: write oci-archive:{dst.text}")


def _inputs(src: Location, layout: LayoutSource | None) -> list[ImageInput]:
    """One input for a registry reference; every (or the NAMEd) entry of a layout."""
    if src.reference is not None:
        ref = src.reference
        if ref.tag is None and ref.digest is None:
            ref = ref.with_tag("latest")
        return [ImageInput(src.text, ref, "source")]
    assert layout is not None
    inputs: list[ImageInput] = []
    for entry in layout.entries:
        if src.name is not None and entry.ref_name != src.name:
            continue
        name = entry.ref_name or str(entry.descriptor.digest)
        try:
            ref = Reference.parse(name)
        except BadReference:
            raise InputError(f"{layout.where}: entry {name!r} is not a full image reference; "
                             "name the destination image (docker://HOST/REPO:TAG)") from None
        inputs.append(ImageInput(name, ref.with_digest(entry.descriptor.digest), layout.where))
    if not inputs:
        which = f"no image named {src.name!r}" if src.name else "no images"
        raise InputError(f"source {src.text!r}: {which}")
    return inputs


def _mapper(dst: Location, inputs: list[ImageInput]) -> Mapper:
    """A registry destination names one image (no tag means ``latest``); a layout destination
    keeps each source's name unless DST gives one NAME, which fits one image only."""
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


def _sink(dst: Location, client: RegistryClient, chunk_size: int | None) -> BlobSink:
    if dst.reference is not None:
        return RegistryStore(client, chunk_size=chunk_size)
    assert dst.path is not None
    if dst.scheme == "oci-archive":
        return TarballFile(dst.path, name=dst.name)
    raise InputError(f"destination {dst.text!r}: oci: directories are not writable yet")


def _into(dst: Location) -> str | None:
    return str(dst.path) if dst.path is not None else None
