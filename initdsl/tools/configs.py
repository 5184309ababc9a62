"""Whole mmengine config files to one policy: every ``init_cfg`` under the model dict.

Real OpenMMLab configs nest ``init_cfg`` under ``model.backbone``,
``model.neck``, ``model.bbox_head`` and inherit them through ``_base_``.
:func:`config_policy` reads the model dict (through ``mmengine.Config``,
which resolves ``_base_``, when mmengine is installed; a config without
``_base_`` is read as data without it), finds each ``init_cfg`` and writes
one policy with a ``scope`` per component. Module paths follow the config
keys, which is the convention OpenMMLab models keep (``model.backbone`` is
the module ``backbone``); with a model, :func:`config_policy` checks that
against the real module tree and adds the ``init_cfg`` defaults that live in
the modules' own code (RetinaHead's ``Normal`` with an override on
``retina_cls``), which the config does not show.
"""

from __future__ import annotations

import ast
import os
from collections.abc import Iterator, Mapping
from typing import Any

import attrs

from ..errors import InitValueError, MissingDependencyError, shown
from ..language.ast import Comment, Policy, Scope
from ..language.decompiler import to_policy
from ..language.formatter import generate

__all__ = ["read_model_dict", "config_init_cfgs", "config_policy", "model_dict_policy"]


def read_model_dict(path: str, key: str = "model") -> Mapping[str, Any]:
    """The dict at ``key`` (dotted: ``model.backbone``) of the config file at ``path``."""
    with open(path, encoding="utf-8") as file:
        text = file.read()
    try:
        from mmengine.config import Config
    except ImportError:
        if _inherits(text, path):
            raise MissingDependencyError(
                f"{path} inherits from _base_ configs: resolving them needs mmengine "
                "(pip install mmengine), as mmengine's Config reads them") from None
        config = _literal_config(text, path)
    else:
        config = Config.fromfile(path).to_dict()
    value: Any = config
    for part in key.split("."):
        if not isinstance(value, Mapping) or part not in value:
            raise InitValueError(f"{path}: the config has no {shown(key)} (no key "
                                 f"{shown(part)})")
        value = value[part]
    if not isinstance(value, Mapping):
        raise InitValueError(f"{path}: {key} is a {type(value).__name__}, not a dict")
    return value


def _inherits(text: str, path: str) -> bool:
    """Whether the config assigns ``_base_`` (or imports a base with ``read_base``)."""
    for statement in ast.parse(text, filename=path).body:
        if isinstance(statement, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == "_base_" for t in statement.targets):
            return True
        if isinstance(statement, ast.With) and "read_base" in ast.unparse(statement.items[0]):
            return True
    return False


def _literal_config(text: str, path: str) -> dict[str, Any]:
    """The top-level assignments of a config without ``_base_``, read as data (never run)."""
    from .literals import literal

    config: dict[str, Any] = {}
    for statement in ast.parse(text, filename=path).body:
        if isinstance(statement, ast.Assign) and len(statement.targets) == 1 and isinstance(
                statement.targets[0], ast.Name):
            try:
                config[statement.targets[0].id] = literal(statement.value, path)
            except Exception:  # noqa: BLE001 - a value that is not data: not the model's
                continue
    return config


def config_init_cfgs(model: Mapping[str, Any], key: str = "model"
                     ) -> Iterator[tuple[str, str, Any]]:
    """``(module path, config key, init_cfg)`` for every ``init_cfg`` under ``model``.

    The path is the key below ``model`` (``"backbone"``, ``"roi_head.bbox_head.0"``;
    ``""`` for the model's own); ``init_cfg`` values are not searched inside.
    """
    stack: list[tuple[str, str, Any]] = [("", key, model)]
    while stack:
        path, where, value = stack.pop()
        if isinstance(value, Mapping):
            if value.get("init_cfg") is not None:
                yield path, f"{where}.init_cfg", value["init_cfg"]
            backbone = value.get("backbone")
            if isinstance(value.get("pretrained"), str) and isinstance(backbone, Mapping) \
                    and backbone.get("init_cfg") is None:
                # The older convention (mmseg, mmdet 2.x): the model's `pretrained` is its
                # backbone's checkpoint, which the model's code turns into its init_cfg.
                yield (f"{path}.backbone" if path else "backbone", f"{where}.pretrained",
                       {"type": "Pretrained", "checkpoint": value["pretrained"]})
            children = [(k, v) for k, v in value.items() if k != "init_cfg"
                        and isinstance(k, str) and isinstance(v, (Mapping, list))]
        elif isinstance(value, list):
            children = [(str(i), v) for i, v in enumerate(value) if isinstance(v, (Mapping, list))]
        else:
            continue
        for name, child in reversed(children):
            stack.append((f"{path}.{name}" if path else name, f"{where}.{name}", child))


def config_policy(path: str, *, key: str = "model", model: Any = None) -> str:
    """One policy for every ``init_cfg`` of the config at ``path`` (the dict at ``key``).

    With ``model`` (the built module), every scope must name one of its
    modules, and the ``init_cfg`` s the modules' own code sets are added.
    """
    return model_dict_policy(read_model_dict(path, key), os.path.basename(path), key=key,
                             model=model)


def model_dict_policy(model_dict: Mapping[str, Any], name: str, *, key: str = "model",
                      model: Any = None) -> str:
    """:func:`config_policy` of a model dict already read (``name`` says where from)."""
    path = name
    found = list(config_init_cfgs(model_dict, key))
    scopes: dict[str, Any] = {}
    origins: dict[str, str] = {}
    for module_path, where, init_cfg in found:
        scopes[module_path] = init_cfg
        origins[module_path] = f"from {where}"
    if model is not None:
        from torch import nn

        modules = dict(model.named_modules()) if isinstance(model, nn.Module) else {}
        missing = [p for p in scopes if p and p not in modules]
        if missing:
            raise InitValueError(
                f"{path}: the config's {', '.join(shown(p) for p in missing)} "
                f"{'is' if len(missing) == 1 else 'are'} not a module of the model "
                f"({type(model).__name__}); module paths follow the config keys only by "
                "convention")
        for module_path, module in modules.items():
            own = getattr(module, "init_cfg", None)
            if own and module_path not in scopes:
                scopes[module_path] = own
                origins[module_path] = f"from the code of {type(module).__name__} (its default)"
    if not scopes:
        raise InitValueError(f"{path}: no init_cfg under {key}")
    policy = to_policy(dict(sorted(scopes.items(), key=lambda item: _order(item[0], found))))
    return _annotated(policy, origins, name, key)


def _order(module_path: str, found: list[tuple[str, str, Any]]) -> tuple[int, str]:
    listed = [p for p, _, _ in found]
    return (listed.index(module_path) if module_path in listed else len(listed), module_path)


def _annotated(policy: Policy, origins: Mapping[str, str], name: str, key: str) -> str:
    head = (Comment(f"# {name}: every init_cfg under {key}, one scope per component."),
            Comment("# Module paths follow the config keys, as OpenMMLab models name them "
                    "(model.backbone is the module backbone)."))
    statements = []
    for statement in policy.statements:
        if isinstance(statement, Scope):
            where = origins.get(".".join(statement.path), "")
            statement = attrs.evolve(statement, comments=(Comment(f"# {where}"),
                                                          *statement.comments))
        statements.append(statement)
    if statements:
        first = statements[0]
        statements[0] = attrs.evolve(first, comments=(*head, *first.comments))
    return generate(attrs.evolve(policy, statements=tuple(statements)))
