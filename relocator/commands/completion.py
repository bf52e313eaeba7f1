"""`relocator completion bash|zsh|fish`: a shell completion script generated from the parser.

The script comes from shtab, a well-kept generator that walks argparse parsers: completions can
never drift from the flags, and a static script costs nothing at each tab (no interpreter start).
"""

from __future__ import annotations

import argparse

from relocator.commands.args import add_global_flags
from relocator.ui import print_raw

__all__ = ["register", "run"]

SHELLS = ("bash", "zsh", "fish")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``completion bash|zsh|fish``: print the script (``source <(relocator completion bash)``)."""
    p = sub.add_parser("completion", help="print a shell completion script",
                       description="bash: source <(relocator completion bash); zsh: relocator completion "
                                   "zsh > \"${fpath[1]}/_relocator\"; fish: relocator completion fish > "
                                   "~/.config/fish/completions/relocator.fish")
    p.add_argument("shell", choices=SHELLS)
    add_global_flags(p, top=False)
    p.set_defaults(run=run)


async def run(args: argparse.Namespace) -> int:
    """Print the script for ``args.shell``, generated from the whole parser (``args.root_parser``)."""
    import shtab  # only this command needs it

    print_raw(shtab.complete(args.root_parser, shell=args.shell) + "\n")
    return 0
