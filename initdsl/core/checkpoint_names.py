"""Checkpoint names as OpenMMLab configs write them: ``torchvision://``, ``open-mmlab://``, ``mmcls://``.

Half of the ``init_cfg`` s in OpenMMLab's configs load a checkpoint by name.
:func:`resolve_name` turns a name into the URL it stands for, exactly as
mmengine 0.10's ``CheckpointLoader`` does, from mmengine's own name tables
(``mmengine/hub/*.json``, and ``$MMENGINE_HOME/open_mmlab.json`` as mmengine
reads it; torchvision's weight enums when torchvision is installed): so
mmengine must be installed to resolve a name, and without it the error
says so. The URL is then read from torch's hub cache like any other
(:func:`initdsl.core.checkpoint.local_path`), its file name's hash checked.

No torch import: ``lint`` resolves names statically.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

from ..errors import (
    CheckpointError,
    CheckpointNotFoundError,
    MissingDependencyError,
    shown,
)

__all__ = ["NAMED_SCHEMES", "resolve_name", "is_named", "check_hash", "mmcls_state_dict"]

#: The named schemes, as mmengine registers them (``modelzoo://`` is torchvision's old name).
NAMED_SCHEMES = ("torchvision://", "modelzoo://", "open-mmlab://", "openmmlab://", "mmcls://")


def is_named(source: str) -> bool:
    """Whether ``source`` names a checkpoint by one of :data:`NAMED_SCHEMES`."""
    return source.startswith(NAMED_SCHEMES)


@lru_cache(maxsize=None)
def _hub() -> Path:
    try:
        import mmengine
    except ImportError:
        raise MissingDependencyError(
            "checkpoint names (torchvision://, open-mmlab://, mmcls://) are resolved with "
            "mmengine's name tables: install mmengine, or load the checkpoint by its URL or "
            "path") from None
    return Path(mmengine.__path__[0]) / "hub"


def _table(name: str) -> dict[str, str]:
    with open(_hub() / name, encoding="utf-8") as file:
        return json.load(file)


def _mmengine_home() -> str:
    # mmengine's rule: $MMENGINE_HOME, else $XDG_CACHE_HOME/mmengine, else ~/.cache/mmengine.
    return os.path.expanduser(os.getenv(
        "MMENGINE_HOME", os.path.join(os.getenv("XDG_CACHE_HOME", "~/.cache"), "mmengine")))


def _torchvision_urls() -> dict[str, str]:
    urls = _table("torchvision_0.12.json")
    try:
        import torchvision
    except ImportError:
        return urls
    models = torchvision.models
    weights = [models.get_model_weights(model) for model in models.list_models(models)] \
        if hasattr(models, "list_models") else [
            cls for cls_name, cls in vars(models).items() if cls_name.endswith("_Weights")]
    for cls in weights:
        if not hasattr(cls, "DEFAULT"):
            continue
        key = cls.__name__.replace("_Weights", "").lower()
        urls[f"{key}.default"] = cls.DEFAULT.url
        for weight in cls:
            urls[f"{key}.{weight.name.lower()}"] = weight.url
    return urls


def _openmmlab_urls() -> dict[str, str]:
    urls = _table("openmmlab.json")
    external = os.path.join(_mmengine_home(), "open_mmlab.json")
    if os.path.exists(external):
        with open(external, encoding="utf-8") as file:
            urls.update(json.load(file))
    return urls


def resolve_name(source: str) -> str:
    """The URL (or, for an OpenMMLab name mapped to a file, the local path) ``source`` names.

    Raises :class:`~initdsl.CheckpointNotFoundError` for a name no table
    has (with the closest names), :class:`~initdsl.MissingDependencyError`
    without mmengine.
    """
    scheme, _, name = source.partition("://")
    if scheme in ("torchvision", "modelzoo"):
        table, kind = _torchvision_urls(), "torchvision"
    elif scheme in ("open-mmlab", "openmmlab"):
        table, kind = _openmmlab_urls(), "OpenMMLab"
        name = _table("deprecated.json").get(name, name)
    elif scheme == "mmcls":
        table, kind = _table("mmcls.json"), "mmcls"
    else:
        raise CheckpointNotFoundError(f"checkpoint {shown(source)}: not a checkpoint name")
    url = table.get(name)
    if url is None:
        import difflib
        close = difflib.get_close_matches(name, list(table), n=3)
        hint = f"; did you mean {', '.join(f'{scheme}://{c}' for c in close)}?" if close else ""
        raise CheckpointNotFoundError(
            f"checkpoint {shown(source)}: {shown(name)} is not a {kind} checkpoint name "
            f"mmengine knows{hint}")
    if not url.startswith(("http://", "https://")):
        return os.path.join(_mmengine_home(), url)  # mmengine's rule for a relative entry
    return url


#: torch hub file names end in the first hex digits of the file's SHA-256: ``-0676ba61.pth``.
_HASHED = re.compile(r"-([a-f0-9]{6,64})\.[A-Za-z0-9]+$")


def check_hash(path: str) -> None:
    """Raise :class:`~initdsl.CheckpointError` if a hub-named file's hash does not match it."""
    found = _HASHED.search(os.path.basename(path))
    if found is None:
        return
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for chunk in iter(lambda: file.read(1 << 20), b""):
            digest.update(chunk)
    if not digest.hexdigest().startswith(found.group(1)):
        raise CheckpointError(
            f"{path}: its SHA-256 starts {digest.hexdigest()[:len(found.group(1))]}, not "
            f"{found.group(1)} as its name says: the file is damaged or not the one the name "
            "stands for; delete it and download it again")


def mmcls_state_dict(checkpoint: Any) -> dict[str, Any]:
    """What mmengine makes of an ``mmcls://`` checkpoint: its ``backbone.`` keys, unprefixed."""
    state = checkpoint.get("state_dict", checkpoint) if isinstance(checkpoint, dict) else \
        checkpoint
    return {"state_dict": {key[len("backbone."):]: value for key, value in state.items()
                           if isinstance(key, str) and key.startswith("backbone.")}}
