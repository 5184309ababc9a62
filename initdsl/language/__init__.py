"""The policy language: text → syntax tree → checked → ``init_cfg``, and back.

Both readers (Lark's reference parser and the fast reader), the checker,
the compiler, the decompiler and the formatter; nothing here needs torch
except :mod:`initdsl.language.binding`, which checks a policy against a
model. docs/architecture.md.
"""
