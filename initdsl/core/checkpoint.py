"""Reading checkpoints and loading state dicts the way mmengine's ``Pretrained`` does.

Reading is safe by default (``weights_only=True``); ``.safetensors`` files
are read with the ``safetensors`` package. Loading is always non-strict:
missing, unexpected and shape-mismatched keys are reported, never raised.
"""

from __future__ import annotations

import json
import logging
import os
import pickle
import re
import urllib.parse
import urllib.request
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

import attrs
import torch
from torch import nn

from ..errors import (
    CheckpointFormatError,
    CheckpointNotFoundError,
    CheckpointUnpicklingError,
    InitAssertionError,
    InitAttributeError,
    InitRuntimeError,
    InitValueError,
    MissingDependencyError,
    shown,
)
from .checkpoint_names import check_hash, is_named, mmcls_state_dict, resolve_name
from .walk import named_buffers, named_parameters

__all__ = ["LoadReport", "read_checkpoint", "check_map_location", "check_tensors",
           "select_state_dict", "load_state_dict", "DOWNLOAD_TIMEOUT"]

logger = logging.getLogger("initdsl")

_REMOTE = ("http://", "https://")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


@attrs.frozen
class LoadReport:
    """What one ``Pretrained`` load did to a module.

    ``module`` is the loaded module's qualified name ("" for the root of the
    run); keys are relative to it. ``mismatched`` holds ``(key, checkpoint
    shape, model shape)`` for tensors that were not copied because their
    shapes differ.
    """

    checkpoint: str
    prefix: str | None
    module: str
    loaded: tuple[str, ...]
    missing: tuple[str, ...]
    unexpected: tuple[str, ...]
    mismatched: tuple[tuple[str, tuple[int, ...], tuple[int, ...]], ...]
    messages: tuple[str, ...] = ()

    @property
    def clean(self) -> bool:
        return not (self.missing or self.unexpected or self.messages)

    def to_dict(self) -> dict[str, Any]:
        return {
            "checkpoint": self.checkpoint,
            "prefix": self.prefix,
            "module": self.module,
            "loaded": list(self.loaded),
            "missing": list(self.missing),
            "unexpected": list(self.unexpected),
            "mismatched": [
                {"key": k, "checkpoint_shape": list(c), "model_shape": list(m)}
                for k, c, m in self.mismatched
            ],
        }


def local_path(source: str, download: bool = True) -> str:
    """The local file a checkpoint source names, downloading ``http(s)://`` once.

    Downloads go to torch's hub cache (``$TORCH_HOME/hub/checkpoints``), so a
    URL is fetched only the first time. With ``download=False`` a URL that is
    not cached raises ``LookupError``. A download that fails (no network, a
    bad address, :data:`DOWNLOAD_TIMEOUT` seconds without an answer) raises
    :class:`~initdsl.CheckpointNotFoundError` naming the file to put in the
    cache instead.
    """
    if is_named(source):
        resolved = resolve_name(source)  # the URL the name stands for, as mmengine has it
        if not resolved.startswith(_REMOTE):
            return resolved
        try:
            path = local_path(resolved, download)
        except CheckpointNotFoundError as error:
            raise CheckpointNotFoundError(f"{source} is {resolved}: {error}") from None
        return path
    if source.startswith(_REMOTE):
        cache = os.path.join(torch.hub.get_dir(), "checkpoints")
        name = os.path.basename(urllib.parse.urlparse(source).path) or "checkpoint"
        path = os.path.join(cache, name)
        if not os.path.exists(path):
            if not download:
                raise LookupError(f"it is remote and not in torch's hub cache ({path})")
            _download(source, path)
        check_hash(path)
        return path
    if source.startswith("file://"):
        return urllib.request.url2pathname(urllib.parse.urlparse(source).path)
    if _SCHEME.match(source):
        raise InitValueError(
            f"checkpoint {shown(source)}: the scheme {source.split('://')[0]!r} is not supported; "
            "use a local path, file://, http(s)://, or a name: torchvision://, open-mmlab://, "
            "mmcls://"
        )
    return os.path.expanduser(source)


#: Seconds a download may wait for the server before it fails.
DOWNLOAD_TIMEOUT = 30.0


def _download(url: str, path: str) -> None:
    """Fetch ``url`` into ``path``, whole or not at all (a partial file is never left)."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    logger.info("downloading %s to %s", url, path)
    partial = f"{path}.{os.getpid()}.partial"
    try:
        with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT) as response, \
                open(partial, "wb") as out:
            while True:
                chunk = response.read(1 << 20)
                if not chunk:
                    break
                out.write(chunk)
        os.replace(partial, path)
    except (OSError, ValueError) as error:  # URLError, HTTPError and timeouts are OSErrors
        reason = getattr(error, "reason", None) or error
        raise CheckpointNotFoundError(
            f"cannot download {url} ({reason}); download it yourself and put it at {path}"
        ) from None
    finally:
        if os.path.exists(partial):
            os.remove(partial)


_SAFETENSORS_DTYPES = {
    "F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
    "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8,
    "U8": torch.uint8, "BOOL": torch.bool,
}


def check_map_location(map_location: Any, *, loading: bool = True) -> None:
    """Raise :class:`~initdsl.CheckpointFormatError` (``E132``) if tensors cannot be read
    onto ``map_location`` here: a device string torch does not know, a CUDA device on a
    machine without one; and, when ``loading`` into a model, ``"meta"``, which reads no
    data (a load with it would copy nothing)."""
    if map_location is None or callable(map_location) or isinstance(map_location, dict):
        return
    try:
        device = torch.device(map_location)
    except (RuntimeError, TypeError, ValueError) as error:
        raise _bad_location(map_location, f"it is not a device ({error})") from None
    if device.type == "meta" and loading:
        raise _bad_location(map_location, "it reads no tensor data, so the load would copy "
                            "nothing into the model; read onto 'cpu'")
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0 or (device.index or 0) >= count:
            raise _bad_location(map_location, f"this machine has {count} CUDA device"
                                f"{'' if count == 1 else 's'}; read onto 'cpu' instead")


def _bad_location(map_location: Any, why: str) -> CheckpointFormatError:
    return CheckpointFormatError(f"map_location {shown(map_location)}: {why}",
                                 argument="map_location", code="E132")


def read_checkpoint(source: str, map_location: Any = "cpu", weights_only: bool = True,
                    *, download: bool = True) -> Any:
    """Read a checkpoint file (whatever it holds) from a path or URL.

    ``map_location="meta"`` reads structure, keys, shapes and dtypes only —
    no tensor data (torch files are memory-mapped onto ``meta``,
    ``.safetensors`` files are read by their header).

    A file that is not a checkpoint (empty, truncated, a bad header, not a
    pickle) raises :class:`~initdsl.CheckpointFormatError` (``E133``) naming
    the file and what is wrong with it; one that holds Python objects safe
    loading refuses, :class:`~initdsl.CheckpointUnpicklingError`.
    """
    checkpoint = _read_file(local_path(source, download), map_location, weights_only)
    # mmengine's mmcls:// loader keeps the backbone's keys, unprefixed.
    return mmcls_state_dict(checkpoint) if source.startswith("mmcls://") else checkpoint


def _read_file(path: str, map_location: Any, weights_only: bool) -> Any:
    if not os.path.isfile(path):
        raise CheckpointNotFoundError(f"{path} can not be found.")
    check_map_location(map_location, loading=False)
    if os.path.getsize(path) == 0:
        raise _unreadable(path, "the file is empty (0 bytes)")
    if path.endswith(".safetensors"):
        return _read_safetensors(path, map_location)
    try:
        try:
            # Memory-mapped: tensors are read from the file only when copied
            # into the model, so reading a checkpoint costs no second copy.
            return torch.load(path, map_location=map_location, weights_only=weights_only,
                              mmap=True)
        except RuntimeError as error:
            if "mmap can only be used" not in str(error):
                raise
            # Legacy (non-zip) torch.save format cannot be memory-mapped.
            return torch.load(path, map_location=map_location, weights_only=weights_only)
    except pickle.UnpicklingError as error:
        first = _first_line(error)
        lines = str(error).splitlines()
        for number, line in enumerate(lines):  # torch's safe unpickler says why last
            if "WeightsUnpickler error:" in line:
                rest = [line.split("WeightsUnpickler error:", 1)[1], *lines[number + 1:]]
                first = next((part.strip() for part in rest if part.strip()), first)
        if weights_only and "Unsupported global" in str(error):
            raise CheckpointUnpicklingError(
                f"{path} holds Python objects that safe loading refuses ({first}). "
                "Pass weights_only=False to Pretrained only if you trust this file."
            ) from None
        raise _unreadable(path, f"it is not a torch.save file ({first})") from None
    except Exception as error:  # noqa: BLE001 - torch.load fails in many ways on a bad file
        raise _unreadable(path, f"torch.load failed: {type(error).__name__}: "
                          f"{_first_line(error)}") from None


def check_tensors(state_dict: Mapping[str, Any], source: str) -> None:
    """Raise :class:`~initdsl.CheckpointFormatError` (``E133``) for a tensor no load can copy.

    torch's loading code cannot copy a sparse (or other non-strided) tensor
    into a dense parameter: it reports the failed copy and moves on, so such
    a checkpoint would load only in part. It is refused while planning.
    """
    for key, value in state_dict.items():
        if isinstance(value, torch.Tensor) and value.layout != torch.strided:
            raise _unreadable(source, f"tensor {shown(key)} is {str(value.layout).removeprefix('torch.')}"
                              "; only dense tensors load into a model (save it with "
                              ".to_dense())")


def _read_safetensors(path: str, map_location: Any) -> Any:
    try:
        from safetensors import safe_open
        from safetensors.torch import load_file
    except ImportError:
        raise MissingDependencyError(
            f"reading {path} needs the 'safetensors' package: pip install safetensors"
        ) from None
    try:
        if str(map_location) == "meta":
            shapes = {}
            with safe_open(path, framework="pt") as handle:
                for key in handle.keys():
                    part = handle.get_slice(key)
                    dtype = _SAFETENSORS_DTYPES.get(part.get_dtype(), torch.float32)
                    shapes[key] = torch.empty(part.get_shape(), dtype=dtype, device="meta")
            return shapes
        device = map_location if isinstance(map_location, (str, torch.device)) else "cpu"
        if torch.device(device).type == "cpu":
            return _mapped_safetensors(path, safe_open)
        return load_file(path, device=str(device))
    except Exception as error:  # noqa: BLE001 - safetensors raises its own SafetensorError
        raise _unreadable(path, f"it is not a safetensors file ({_first_line(error)})") from None


def _mapped_safetensors(path: str, safe_open: Any) -> dict[str, torch.Tensor]:
    """Every tensor of a ``.safetensors`` file as a view of the file mapped into memory
    (copy-on-write, as ``torch.load(mmap=True)`` maps a ``.pt``): bytes are read when used,
    so a rank that copies rows 4096-8191 of a tensor reads only those rows.

    safetensors validates the file (``safe_open``) and reads what it cannot map here (a
    dtype torch views differently, a tensor not aligned to its element size) itself.
    """
    with safe_open(path, framework="pt") as handle:
        # The order load_file gives (by offset since safetensors 0.6; sorted before).
        keys = list(handle.offset_keys() if hasattr(handle, "offset_keys") else handle.keys())
        with open(path, "rb") as file:
            length = int.from_bytes(file.read(8), "little")
            header = json.loads(file.read(length))
        storage = torch.UntypedStorage.from_file(path, shared=False,
                                                 nbytes=os.path.getsize(path))
        tensors: dict[str, torch.Tensor] = {}
        for key in keys:
            entry = header[key]
            dtype = _SAFETENSORS_DTYPES.get(entry["dtype"])
            start, end = (8 + length + offset for offset in entry["data_offsets"])
            if dtype is None or start % dtype.itemsize:
                tensors[key] = handle.get_tensor(key)
                continue
            # A storage of its own bytes (a view of the mapping): torch.save of one
            # tensor writes that tensor, not the file.
            flat = torch.empty(0, dtype=dtype).set_(storage[start:end])
            tensors[key] = flat.view(entry["shape"])
    return tensors


def _unreadable(path: str, why: str) -> CheckpointFormatError:
    return CheckpointFormatError(f"{path} cannot be read as a checkpoint: {why}",
                                 argument="checkpoint", code="E133")


def _first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return lines[0].strip() if lines else type(error).__name__


def select_state_dict(checkpoint: Any, prefix: str | None, source: str) -> OrderedDict:
    """The state dict ``Pretrained`` loads from a read checkpoint.

    Unwraps ``checkpoint['state_dict']``. Without ``prefix``, one leading
    ``module.`` is removed from every key; with it, only keys under
    ``prefix`` are kept, with the prefix removed.
    """
    # mmengine checks the container only without a prefix (RuntimeError); otherwise
    # it fails on the container itself: `'state_dict' in tensor` is a RuntimeError,
    # a list (or a non-dict 'state_dict' entry) has no `.items()`.
    if not isinstance(checkpoint, dict) and (prefix is None or isinstance(checkpoint, torch.Tensor)):
        raise InitRuntimeError(f"No state_dict found in checkpoint file {source}")
    state_dict = checkpoint.get("state_dict", checkpoint) if isinstance(checkpoint, dict) else checkpoint
    if not isinstance(state_dict, dict):
        raise InitAttributeError(
            f"No state_dict found in checkpoint file {source} "
            f"(it holds a {type(state_dict).__name__}, not a dict of tensors)"
        )
    if prefix is None:
        metadata = getattr(state_dict, "_metadata", OrderedDict())
        selected = OrderedDict((re.sub(r"^module\.", "", k), v) for k, v in state_dict.items())
        selected._metadata = metadata
        return selected
    if not prefix.endswith("."):
        prefix += "."
    selected = OrderedDict(
        (k[len(prefix) :], v) for k, v in state_dict.items() if k.startswith(prefix)
    )
    if not selected:
        raise InitAssertionError(f"{prefix} is not in the pretrained model")
    return selected


def load_state_dict(
    module: nn.Module, state_dict: dict, *, checkpoint: str = "", prefix: str | None = None,
    path: str = "",
) -> tuple[LoadReport, list[torch.Tensor]]:
    """Copy ``state_dict`` into ``module`` in place, non-strictly, as mmengine does.

    Returns the report and the tensors that were written.

    Each module's ``_load_from_state_dict`` is called with torch's own
    bookkeeping (so shape mismatches become messages, not errors) and its
    load-state-dict post hooks run. One WARNING is logged when anything did
    not match.
    """
    missing: list[str] = []
    unexpected: list[str] = []
    messages: list[str] = []
    metadata = getattr(state_dict, "_metadata", None)
    # torch's loaders may add keys to the dict they are given (BatchNorm adds
    # num_batches_tracked for old checkpoints): work on a copy.
    offered = set(state_dict)
    state_dict = OrderedDict(state_dict)
    # In-place copies bump a tensor's version counter: that is how we know
    # exactly which tensors were loaded, without comparing any data.
    before = {
        name: (t, t._version)
        for named in (named_parameters(module), named_buffers(module))
        for name, t in named
    }

    # torch's load_state_dict, module by module, with an explicit stack (any depth):
    # each module loads its own keys, then its children, then its post hooks run.
    stack: list[tuple[nn.Module, dict, str, bool]] = [(module, state_dict, "", False)]
    with torch.no_grad():
        while stack:
            target, local, key_prefix, done = stack.pop()
            if isinstance(target, (nn.DataParallel, nn.parallel.DistributedDataParallel)):
                target = target.module
            if done:
                keys = nn.modules.module._IncompatibleKeys(missing, unexpected)
                for hook in target._load_state_dict_post_hooks.values():
                    hook(target, keys)
                continue
            local_metadata = {} if metadata is None else metadata.get(key_prefix[:-1], {})
            target._load_from_state_dict(
                local, key_prefix, local_metadata, True, missing, unexpected, messages
            )
            stack.append((target, local, key_prefix, True))
            # Each key goes to the child its next segment names: one pass over
            # the module's keys, however many children it has.
            buckets: dict[str, dict] = {}
            start = len(key_prefix)
            for key, value in local.items():
                dot = key.find(".", start)
                if dot >= 0:
                    buckets.setdefault(key[start:dot], {})[key] = value
            children = [(child, buckets.get(name, {}), f"{key_prefix}{name}.", False)
                        for name, child in target._modules.items() if child is not None]
            stack.extend(reversed(children))

    missing = [k for k in missing if "num_batches_tracked" not in k]
    written = {name: t for name, (t, v) in before.items() if t._version != v and name in offered}
    model_shapes = {name: tuple(t.shape) for name, (t, _) in before.items()}
    mismatched = tuple(
        (k, tuple(v.shape), model_shapes[k])
        for k, v in state_dict.items()
        if k in model_shapes and isinstance(v, torch.Tensor) and tuple(v.shape) != model_shapes[k]
        and not (v.dim() == 1 and v.numel() == 1 and model_shapes[k] == ())
    )
    parts = list(messages)
    if unexpected:
        parts.append(f"unexpected key in source state_dict: {', '.join(unexpected)}\n")
    if missing:
        parts.append(f"missing keys in source state_dict: {', '.join(missing)}\n")
    if parts:
        parts.insert(0, "The model and loaded state dict do not match exactly\n")
        logger.warning("\n".join(parts))
    report = LoadReport(
        checkpoint=checkpoint,
        prefix=prefix,
        module=path,
        loaded=tuple(written),
        missing=tuple(missing),
        unexpected=tuple(unexpected),
        mismatched=mismatched,
        messages=tuple(messages),
    )
    return report, list(written.values())
