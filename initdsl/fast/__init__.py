"""Fast mode: the plan as data, keyed random streams, each tensor written once.

:mod:`~initdsl.fast.schedule` (the plan), :mod:`~initdsl.fast.rng`
(distributions and keyed generators), :mod:`~initdsl.fast.executor` and
:mod:`~initdsl.fast.materialize`. docs/fast.md, docs/architecture.md.
"""
