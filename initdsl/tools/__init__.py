"""Tools on top of the API: the command line, lint, explain and model specs.

docs/cli.md, docs/architecture.md.
"""
