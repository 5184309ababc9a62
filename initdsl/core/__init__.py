"""The core: mmengine's ``init_cfg`` semantics, planned and executed exactly.

The registry and the initializers, the one matcher, ``BaseModule``, the
planner that resolves configurations into steps, the executor that writes
them (exact mode), provenance and checkpoints. docs/architecture.md.
"""
