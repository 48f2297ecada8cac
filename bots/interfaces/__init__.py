"""How people and machines reach payerbot: the CLI, the web console, the scheduler."""
