"""Credentials on the command line, in skopeo's and imgpkg's spellings, for one-off runs.

skopeo: ``--src-creds USER[:PASSWORD]``, ``--dest-creds``, ``--src-authfile``/``--dest-authfile``/
``--authfile`` (Docker config format), ``--src-no-creds``/``--dest-no-creds``. imgpkg and kbld:
``--registry-username``/``--registry-password`` (every registry of the run), ``--registry-anon``.
``--password-stdin`` reads the one password flag left without one from standard input. A password
written on the command line is visible to other users of the machine (``ps``): it warns, once.

``src`` flags apply to the hosts a command reads from, ``dest`` flags to those it writes to; a
command passes both sets (``credential_store``). These flags win over the environment and the
Docker config for the hosts they name; every other host keeps the usual lookup.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable
from pathlib import Path

from relocator.auth import CredentialStore
from relocator.auth.credentials import Credential
from relocator.engine.target import ImageInput
from relocator.errors import InputError
from relocator.frontends.destinations import destination_registry
from relocator.ui import print_note

__all__ = ["add_credential_flags", "credential_store", "destination_hosts", "hosts_of"]


def add_credential_flags(parser: argparse.ArgumentParser) -> None:
    """Declare the credential flags (see the module docstring) on ``parser``."""
    group = parser.add_argument_group("credentials (instead of the Docker config, for one run)")
    for role, what in (("src", "the registries read from"), ("dest", "the registries written to")):
        group.add_argument(f"--{role}-creds", metavar="USER[:PASSWORD]", help=f"credentials for {what}")
        group.add_argument(f"--{role}-authfile", type=Path, metavar="FILE",
                           help=f"a Docker config file for {what}")
        group.add_argument(f"--{role}-no-creds", action="store_true", help=f"access {what} anonymously")
    group.add_argument("--authfile", type=Path, metavar="FILE",
                       help="a Docker config file for every registry")
    group.add_argument("--registry-username", metavar="USER", help="username for every registry (imgpkg)")
    group.add_argument("--registry-password", metavar="PASSWORD", help="password for every registry (imgpkg)")
    group.add_argument("--password-stdin", action="store_true",
                       help="read the password from standard input")
    group.add_argument("--registry-anon", action="store_true", help="access every registry anonymously")


def credential_store(args: argparse.Namespace, *, sources: Iterable[str],
                     destinations: Iterable[str]) -> CredentialStore:
    """The run's credential store: flags for ``sources`` and ``destinations`` (registry hosts),
    the usual lookup for the rest. Raises InputError for a flag that names no host of this
    command, two different credentials for one host, or a missing password."""
    src, dst = sorted(set(sources)), sorted(set(destinations))
    stdin = _stdin_password(args)
    warned = False
    explicit: dict[str, Credential] = {}
    anonymous: set[str] = set()
    configs: dict[str, Path] = {}

    def put(hosts: list[str], cred: Credential, flag: str) -> None:
        for host in hosts:
            if explicit.setdefault(host, cred) != cred:
                raise InputError(f"{flag}: {host} is both a source and a destination; give one "
                                 "credential for it (--registry-username/--registry-password)")

    for role, hosts in (("src", src), ("dest", dst)):
        creds = getattr(args, f"{role}_creds", None)
        authfile = getattr(args, f"{role}_authfile", None)
        no_creds = getattr(args, f"{role}_no_creds", False)
        given = [f"--{role}-creds" if creds else "", f"--{role}-authfile" if authfile else "",
                 f"--{role}-no-creds" if no_creds else ""]
        if any(given) and not hosts:
            flag = next(g for g in given if g)
            raise InputError(f"{flag}: this command {'reads from' if role == 'src' else 'writes to'} "
                             "no registry")
        if creds:
            user, sep, password = str(creds).partition(":")
            if not user:
                raise InputError(f"--{role}-creds: want USER[:PASSWORD]")
            if sep:
                warned = _warn_once(warned)
            elif stdin is not None:
                password, stdin = stdin, None
            else:
                raise InputError(f"--{role}-creds {user}: no password (write USER:PASSWORD or use "
                                 "--password-stdin)")
            put(hosts, Credential(user, password), f"--{role}-creds")
        if authfile:
            configs.update(dict.fromkeys(hosts, Path(authfile)))
        if no_creds:
            anonymous.update(hosts)
    if args.registry_username or args.registry_password:
        password = args.registry_password
        if password:
            warned = _warn_once(warned)
        elif stdin is not None:
            password, stdin = stdin, None
        if not args.registry_username or not password:
            raise InputError("--registry-username and --registry-password (or --password-stdin) go together")
        for host in src + dst:
            explicit.setdefault(host, Credential(args.registry_username, password))
    if stdin is not None:
        raise InputError("--password-stdin: no --src-creds USER, --dest-creds USER or --registry-username "
                         "to use it with")
    if args.registry_anon:
        anonymous.update(src + dst)
    return CredentialStore(explicit, docker_config=args.authfile, anonymous=anonymous, host_configs=configs)


def hosts_of(inputs: Iterable[ImageInput]) -> list[str]:
    """The registry hosts a list of inputs reads from."""
    return sorted({i.ref.repository.registry for i in inputs})


def destination_hosts(repository: str | None, prefix: str | None) -> list[str]:
    """The host ``--repository HOST/REPO`` or ``--prefix HOST[/PATH]`` writes to, exactly as
    frontends.destinations maps images there; none for a malformed flag, which it refuses."""
    host = destination_registry(repository, prefix)
    return [host] if host is not None else []


def _stdin_password(args: argparse.Namespace) -> str | None:
    if not args.password_stdin:
        return None
    if sys.stdin.isatty():
        raise InputError("--password-stdin: standard input is a terminal; pipe the password in")
    password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        raise InputError("--password-stdin: standard input held no password")
    return password


def _warn_once(warned: bool) -> bool:
    if not warned:
        print_note("a password on the command line is visible to other users of this machine "
                   "(ps, shell history): prefer --password-stdin or the Docker config")
    return True
