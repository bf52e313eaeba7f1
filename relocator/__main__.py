"""``python -m relocator``."""

from relocator.cli import main

main()
