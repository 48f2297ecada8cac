"""``python -m bots``: the payerbot command line."""

from bots.interfaces.cli import main

main()
