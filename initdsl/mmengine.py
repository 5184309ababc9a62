"""The mmengine plugin: policies inside mmengine configs, and initdsl's types in mmengine.

Importing this module — ``custom_imports = dict(imports=['initdsl.mmengine'])``
in a config, ``from initdsl.mmengine import PolicyInit`` in a lazy-import
config, or a plain import — registers into **mmengine's own**
``WEIGHT_INITIALIZERS``:

* ``Policy``: ``init_cfg = dict(type='Policy', file='configs/r50.init')`` or
  ``dict(type='Policy', policy='Conv2d -> kaiming')`` runs the policy on the
  module whose ``init_cfg`` it is, through mmengine's own
  ``BaseModule.init_weights``; mmengine's per-parameter init log then names
  the policy rule (``file:line:col``) behind each write;
* initdsl's extension types (``Select``, ``Keep``, ``Zeros``, ``Ones``,
  ``VarianceScaling``, ``Orthogonal``, ``Seed``), so that ``initdsl compile``
  output runs in mmengine with the same result as in initdsl, each run by
  initdsl's core on the module mmengine hands it.

mmengine stays optional: nothing else in initdsl imports this module, and
importing it without mmengine raises :class:`~initdsl.MissingDependencyError`.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from .errors import MissingDependencyError

try:
    from mmengine.registry import WEIGHT_INITIALIZERS as MMENGINE_INITIALIZERS
except ImportError as error:  # pragma: no cover - exercised without mmengine installed
    raise MissingDependencyError(
        "initdsl.mmengine is the mmengine plugin: install mmengine (pip install "
        "'mmengine>=0.10') to use it") from error

__all__ = ["PolicyInit", "EXTENSION_TYPES"]

#: initdsl's own initializer types, run in mmengine by initdsl's core.
EXTENSION_TYPES = ("Select", "Keep", "Zeros", "Ones", "VarianceScaling", "Orthogonal", "Seed")


class PolicyInit:
    """An mmengine initializer that runs an initdsl policy on the module it is given.

    Args:
        file: a ``.init`` file (a path; relative paths are from the working
            directory, as mmengine's ``Pretrained`` checkpoints are).
        policy: the policy text itself (exactly one of ``file`` and ``policy``).
        layer, bias, bias_prob: accepted for mmengine's sake and not used: the
            policy says what it writes.
    """

    def __init__(self, file: str | None = None, policy: str | None = None,
                 **ignored: Any) -> None:
        if (file is None) == (policy is None):
            raise TypeError("Policy takes exactly one of file= (a .init file) and policy= "
                            "(the text of a policy)")
        from .language.compiler import compile_policy
        from .language.parser import read_policy_file

        if file is not None:
            text = read_policy_file(file)
            self.filename = str(file)
        else:
            text, self.filename = str(policy), "<policy>"
        self.text = text
        # Compiled (and every error reported) when the config is built, not mid-run.
        self.compiled = compile_policy(text, self.filename)
        self.wholemodule = False

    def __call__(self, module: nn.Module) -> None:
        from .driver import apply

        records = apply(module, self.compiled)
        info = getattr(module, "_params_init_info", None)
        if info is None:
            return
        # mmengine's init log, per parameter: the policy rule behind the write.
        for name, param in module.named_parameters():
            record = records[name] if name in records else None
            if record is None or record.writer is None or param not in info:
                continue
            info[param]["init_info"] = f"{record.text} (policy rule {record.origin})"
            info[param]["tmp_mean_value"] = param.data.mean().cpu()

    def __repr__(self) -> str:
        return f"PolicyInit(file={self.filename!r})"


class _Extension:
    """One of initdsl's types, built by mmengine from a cfg and run by initdsl's core."""

    kind = ""

    def __init__(self, **cfg: Any) -> None:
        from .core.registry import WEIGHT_INITIALIZERS

        self.cfg = {"type": self.kind, **cfg}
        self.wholemodule = False
        WEIGHT_INITIALIZERS.build(dict(self.cfg))  # errors surface when mmengine builds it

    def __call__(self, module: nn.Module) -> None:
        from .core.runner import initialize, initialize_whole

        if self.wholemodule:
            initialize_whole(module, self.cfg)
        else:
            initialize(module, self.cfg)
        info = getattr(module, "_params_init_info", None)
        if info is not None:
            from mmengine.model.weight_init import update_init_info

            update_init_info(module, init_info=f"{self.kind}: {self.cfg} (initdsl)")


def _register() -> None:
    if "Policy" not in MMENGINE_INITIALIZERS.module_dict:
        MMENGINE_INITIALIZERS.register_module(name="Policy", module=PolicyInit)
    for kind in EXTENSION_TYPES:
        if kind not in MMENGINE_INITIALIZERS.module_dict:
            cls = type(f"{kind}Extension", (_Extension,), {"kind": kind,
                                                           "__module__": __name__})
            MMENGINE_INITIALIZERS.register_module(name=kind, module=cls)


_register()
