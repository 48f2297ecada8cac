"""``python -m bots.interfaces.cli``: the payerbot command line."""

from bots.interfaces.cli import main

main()
