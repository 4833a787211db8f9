"""The `haven` command: administration on the machine that runs the stack."""
