"""Flags several verbs share (kbld spellings), their parsers, and Settings built from them."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from relocator.commands.credentials import add_credential_flags
from relocator.config import Limits, RetryPolicy, Settings, TLSSettings
from relocator.engine.platforms import Mode, PlatformSelection
from relocator.engine.referrers import ReferrerPolicy
from relocator.errors import InputError
from relocator.stores.files import check_writable

__all__ = ["add_copy_flags", "add_destination_flags", "add_global_flags", "add_input_flags",
           "add_platform_flags", "add_referrers_flag", "add_registry_flags", "boolean", "int_list",
           "output_file", "platform_selection", "referrer_policy", "settings_from", "shard", "size"]


def add_global_flags(parser: argparse.ArgumentParser, *, top: bool) -> None:
    """``--debug``, ``-q`` and ``-v``, accepted before and after the subcommand: a subcommand's
    copy defaults to SUPPRESS so it never overwrites what was given before it."""
    parser.add_argument("--debug", action="store_true", default=False if top else argparse.SUPPRESS,
                        help="log every request; re-raise internal errors with their traceback")
    parser.add_argument("-q", "--quiet", action="store_true", default=False if top else argparse.SUPPRESS,
                        help="errors and the summary only")
    parser.add_argument("-v", "--verbose", action="count", default=0 if top else argparse.SUPPRESS,
                        help="-v: a line per blob; -vv: every request with its status and time")


def add_destination_flags(parser: argparse.ArgumentParser) -> None:
    """``--repository HOST/REPO`` (kbld: every image into one repository, by digest) or
    ``--prefix HOST[/PATH]`` (a mirror: repository paths and tags kept under it); one is required."""
    dest = parser.add_mutually_exclusive_group(required=True)
    dest.add_argument("--repository", metavar="HOST/REPO", help="every image into this repository")
    dest.add_argument("--prefix", metavar="HOST[/PATH]", help="mirror: keep paths and tags under this")


def boolean(text: str) -> bool:
    """``true``/``false`` (also 1/0, yes/no), as kbld's ``--registry-verify-certs=false``."""
    if text.lower() in ("true", "1", "yes"):
        return True
    if text.lower() in ("false", "0", "no"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def output_file(text: str) -> Path:
    """A file the run will write (``--lock-output``), refused at once if it cannot be written."""
    path = Path(text)
    try:
        check_writable(path)
    except InputError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return path


def size(text: str) -> int:
    """A byte count such as ``5MiB``, ``16m`` or ``1024`` (binary units)."""
    units = {"k": 1024, "m": 1024**2, "g": 1024**3}
    t = text.strip().lower().removesuffix("ib").removesuffix("b")
    mult = units.get(t[-1:], 1)
    number = t[:-1] if t[-1:] in units else t
    if not number.isdigit() or int(number) * mult <= 0:
        raise argparse.ArgumentTypeError(f"invalid size {text!r}")
    return int(number) * mult


def shard(text: str) -> tuple[int, int]:
    """``I/N`` with ``0 <= I < N``."""
    index, sep, count = text.partition("/")
    if not sep or not index.isdigit() or not count.isdigit() or not 0 <= int(index) < int(count):
        raise argparse.ArgumentTypeError(f"expected I/N with 0 <= I < N, got {text!r}")
    return int(index), int(count)


def int_list(text: str) -> list[int]:
    """``N`` or ``N,N,...``."""
    try:
        values = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected N or N,N,..., got {text!r}") from None
    if not values:
        raise argparse.ArgumentTypeError(f"expected N or N,N,..., got {text!r}")
    return values


def add_input_flags(parser: argparse.ArgumentParser) -> None:
    """``-f FILE`` and ``-i REF``, both repeatable."""
    parser.add_argument("-f", "--file", action="append", default=[], metavar="FILE",
                        help="YAML with image: keys, a kbld lock file, or a reference list ('-' is stdin)")
    parser.add_argument("-i", "--image", action="append", default=[], metavar="REF", help="one image")


def add_copy_flags(parser: argparse.ArgumentParser, *, chunked: bool = True, to_layout: bool = True) -> None:
    """What every copying verb takes: ``--lock-output``, ``--chunk-size`` (for registry
    destinations), ``--include-non-distributable-layers``, ``--json`` and ``--fail-fast`` (spelled
    ``--all-or-nothing`` too where the destination may be a tarball or layout: ``to_layout``)."""
    parser.add_argument("--lock-output", type=output_file, metavar="FILE", help="write a kbld lock file")
    if chunked:
        parser.add_argument("--chunk-size", type=size, metavar="BYTES", help="upload in chunks of this size")
    parser.add_argument("--include-non-distributable-layers", action="store_true")
    parser.add_argument("--json", action="store_true", help="print a JSON report")
    add_referrers_flag(parser)
    add_platform_flags(parser)
    names = ("--fail-fast", "--all-or-nothing") if to_layout else ("--fail-fast",)
    parser.add_argument(
        *names, dest="fail_fast", action="store_true",
        help="stop at the first image that fails" + (
            "; a tarball or layout is then not written at all (by default it holds every image "
            "that made it)" if to_layout else ""))


def add_referrers_flag(parser: argparse.ArgumentParser, default: str | None = "all") -> None:
    """``--referrers all|none|TYPE[,TYPE...]`` (engine.referrers), read by ``referrer_policy``."""
    parser.add_argument("--referrers", default=default, metavar="all|none|TYPE[,TYPE...]",
                        help="what refers to each image (signatures, SBOMs, attestations) goes with it: "
                             "all (default), none, or these artifact types and what refers to them")


def add_platform_flags(parser: argparse.ArgumentParser) -> None:
    """``--platform`` (repeatable) and ``--platform-mode`` (engine.platforms), read by
    ``platform_selection``."""
    parser.add_argument("--platform", action="append", default=[], metavar="OS/ARCH[/VARIANT][:OSVERSION]",
                        help="copy only these platforms of each index (repeatable; default all)")
    parser.add_argument("--platform-mode", metavar="filter|sparse|single",
                        choices=_Offered(m.value for m in Mode),
                        help="with --platform: filter (default) writes a new index of the chosen platforms "
                             "(new digest, both reported); sparse keeps the index's bytes and digest with "
                             "only the chosen platforms' manifests (registries that check an index's "
                             "entries refuse it); single copies one platform's image manifest alone")


class _Offered(tuple[str, ...]):
    """A flag's values as offered to shell completion (shtab reads ``action.choices``), not
    enforced by argparse: every value is "in" them, so a bad one reaches the flag's own check
    (``platform_selection``) and its one-line error, exit 2, instead of argparse's usage block."""

    __slots__ = ()

    def __contains__(self, value: object) -> bool:
        return True


def platform_selection(args: argparse.Namespace) -> PlatformSelection:
    """The ``--platform``/``--platform-mode`` selection; raises InputError (one line, exit 2) for
    a bad value, before anything is read or written."""
    return PlatformSelection.parse(getattr(args, "platform", []), getattr(args, "platform_mode", None))


def referrer_policy(args: argparse.Namespace) -> ReferrerPolicy:
    """The ``--referrers`` policy; raises InputError (one line, exit 2) for a bad value, before
    anything is read or written."""
    return ReferrerPolicy.parse(args.referrers)


_DEFAULTS = Settings()


def add_registry_flags(parser: argparse.ArgumentParser, *, concurrency: bool = True) -> None:
    """TLS and plain-HTTP flags in kbld's spellings, timeouts and retries (``--retry-times`` is
    skopeo's spelling), ``--concurrency``, and the credential flags (commands.credentials)."""
    group = parser.add_argument_group("registry access")
    group.add_argument("--registry-ca-cert-path", action="append", default=[], metavar="FILE",
                       help="trust this CA certificate too (repeatable)")
    group.add_argument("--registry-verify-certs", type=boolean, default=True, metavar="BOOL",
                       help="verify TLS certificates (default true)")
    group.add_argument("--registry-insecure", action="append", default=[], metavar="HOST[:PORT]",
                       help="allow plain HTTP to this host, every port of it without :PORT "
                            "(repeatable; loopback always may)")
    group.add_argument("--connect-timeout", type=float, default=_DEFAULTS.connect_timeout, metavar="SECONDS",
                       help="give up a connection (TCP and TLS) not made in this long "
                            f"(default {_DEFAULTS.connect_timeout:g})")
    group.add_argument("--read-timeout", type=float, default=_DEFAULTS.read_timeout, metavar="SECONDS",
                       help="give up a request whose answer, or a body, stops for this long or moves "
                            f"under {_DEFAULTS.min_speed} bytes/s for this long "
                            f"(default {_DEFAULTS.read_timeout:g})")
    group.add_argument("--retries", "--retry-times", type=int, default=_DEFAULTS.retry.attempts - 1,
                       metavar="N", help="retry a failed request N times (default "
                       f"{_DEFAULTS.retry.attempts - 1}); a host that answers none of the tries is "
                       "given up on for the rest of the run")
    if concurrency:
        group.add_argument("--concurrency", type=int, default=16, help="transfers at once per registry")
    add_credential_flags(parser)


def settings_from(args: argparse.Namespace, *, chunk_size: int | None = None) -> Settings:
    """Settings from parsed flags; raises InputError for a concurrency below 1, a timeout that is
    not above 0, or negative retries."""
    given = getattr(args, "concurrency", 16)
    concurrency = given if isinstance(given, int) else max(given)
    if concurrency < 1:
        raise InputError(f"--concurrency must be at least 1, got {concurrency}")
    connect = getattr(args, "connect_timeout", _DEFAULTS.connect_timeout)
    read = getattr(args, "read_timeout", _DEFAULTS.read_timeout)
    retries = getattr(args, "retries", _DEFAULTS.retry.attempts - 1)
    for flag, seconds in (("--connect-timeout", connect), ("--read-timeout", read)):
        if not (math.isfinite(seconds) and seconds > 0):
            raise InputError(f"{flag} must be a number of seconds above 0, got {seconds:g}")
    if retries < 0:
        raise InputError(f"--retries must be 0 or more, got {retries}")
    return Settings(
        limits=Limits(concurrency=concurrency, chunk_size=chunk_size),
        retry=RetryPolicy(attempts=retries + 1),
        connect_timeout=connect,
        read_timeout=read,
        tls=TLSSettings(
            ca_cert_paths=tuple(Path(p) for p in getattr(args, "registry_ca_cert_path", [])),
            verify=getattr(args, "registry_verify_certs", True),
            insecure_registries=frozenset(getattr(args, "registry_insecure", [])),
        ),
    )
