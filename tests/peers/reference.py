"""What the peers write, observed or re-implemented, as per-tensor distributions.

Two sources of truth, from the strongest down:

* :func:`record_hf` runs a real HF transformers model's own initialization
  and records, for every storage, the last ``transformers.initialization``
  call that wrote it whole, and the rows later zeroed in place (the
  ``padding_idx`` row): HF routes every init write through
  ``TORCH_INIT_FUNCTIONS``, which the recording wraps;
* the ``timm_*`` and ``titan_*`` functions replay, on ``initdsl.zoo``'s
  models with timm's and torchtitan's parameter names, the init code of
  timm 1.0.31 and torchtitan 0.3.0 as ``../shared/spec/peers.md`` traces
  it (those libraries do not install beside this torch): same functions,
  same order, so that bytes can be compared under one seed.

Distributions use :mod:`initdsl.core.distributions`' value objects, which
is also what :func:`initdsl.plan` resolves a policy to.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator

import torch
from torch import nn

from initdsl.core.distributions import Constant, Normal, TruncNormal, Uniform
from initdsl.core.functional import trunc_normal_ as inverse_cdf_trunc_normal_


def _key(tensor: torch.Tensor) -> tuple[int, int]:
    return tensor.untyped_storage().data_ptr(), tensor.numel()


def _as_distribution(name: str, args: tuple, kwargs: dict):
    get = lambda k, i, default: kwargs.get(k, args[i] if len(args) > i else default)  # noqa: E731
    if name == "normal_":
        return Normal(get("mean", 0, 0.0), get("std", 1, 1.0))
    if name == "uniform_":
        return Uniform(get("a", 0, 0.0), get("b", 1, 1.0))
    if name == "trunc_normal_":
        return TruncNormal(get("mean", 0, 0.0), get("std", 1, 1.0), get("a", 2, -2.0),
                           get("b", 3, 2.0))
    if name == "zeros_":
        return Constant(0.0)
    if name == "ones_":
        return Constant(1.0)
    if name == "constant_":
        return Constant(get("val", 0, None))
    return (name, args, tuple(sorted(kwargs.items())))


@contextlib.contextmanager
def record_hf() -> Iterator[dict]:
    """Record HF's init writes while building a model inside the block.

    Yields ``{"whole": {storage key: distribution}, "rows": {storage ptr: {row, ...}}}``.
    """
    import transformers.initialization as hf_init

    table = hf_init.TORCH_INIT_FUNCTIONS
    saved = dict(table)
    seen: dict = {"whole": {}, "rows": {}}

    def wrap(name, function):
        def recorded(tensor, *args, **kwargs):
            result = function(tensor, *args, **kwargs)
            storage = tensor.untyped_storage()
            whole = tensor.numel() * tensor.element_size() == storage.nbytes()
            if whole:
                seen["whole"][_key(tensor)] = _as_distribution(name, args, kwargs)
                seen["rows"].pop(storage.data_ptr(), None)
            elif name == "zeros_" or (name == "constant_" and kwargs.get("val", args[0] if args
                                                                          else None) == 0):
                row_bytes = tensor.numel() * tensor.element_size()
                offset = tensor.storage_offset() * tensor.element_size()
                seen["rows"].setdefault(storage.data_ptr(), set()).add(offset // row_bytes)
            return result
        return recorded

    for name, function in saved.items():
        table[name] = wrap(name, function)
    try:
        yield seen
    finally:
        table.clear()
        table.update(saved)


def planned(model: nn.Module, policy: str) -> dict[str, tuple]:
    """``{name: (distribution, zeroed rows)}`` of every tensor ``policy`` writes last."""
    import initdsl
    from initdsl.core.modifiers import ZeroRow

    schedule = initdsl.plan(model, policy)
    out = {}
    for target in schedule.targets:
        write = target.final_planned
        if write is None:
            continue
        rows = {m.row for m in getattr(write, "then", ()) if isinstance(m, ZeroRow)
                and m.row is not None}
        for alias in target.aliases:
            out[alias] = (write.dist, rows)
    return out


def observed(model: nn.Module, seen: dict) -> dict[str, tuple]:
    """``record_hf``'s findings by parameter name of ``model``."""
    out = {}
    for name, tensor in model.named_parameters(remove_duplicate=False):
        dist = seen["whole"].get(_key(tensor))
        if dist is None:
            continue
        rows = seen["rows"].get(tensor.untyped_storage().data_ptr(), set())
        out[name] = (dist, rows)
    return out


def same(ours, theirs, rel: float = 1e-12) -> bool:
    """Same family and the same resolved numbers (to rounding)."""
    if type(ours) is not type(theirs):
        return False
    for field in ("mean", "std", "a", "b", "low", "high", "value"):
        mine, other = getattr(ours, field, None), getattr(theirs, field, None)
        if mine is None and other is None:
            continue
        if mine is None or other is None or not math.isclose(mine, other, rel_tol=rel,
                                                             abs_tol=1e-300):
            return False
    return True


# -- timm 1.0.31, replayed on initdsl.zoo models ---------------------------------------


def _named_apply_post_order(fn, module: nn.Module, name: str = "") -> None:
    for child_name, child in module.named_children():
        _named_apply_post_order(fn, child, f"{name}.{child_name}" if name else child_name)
    if name:  # include_root=False
        fn(module, name)


def timm_vit(model: nn.Module) -> None:
    """``VisionTransformer.init_weights('')``: pos_embed, cls_token, then every Linear."""
    inverse_cdf_trunc_normal_(model.pos_embed, std=0.02)
    nn.init.normal_(model.cls_token, std=1e-6)

    def init_weights_vit_timm(module, name):
        if isinstance(module, nn.Linear):
            inverse_cdf_trunc_normal_(module.weight, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
    with torch.no_grad():
        _named_apply_post_order(init_weights_vit_timm, model)


def timm_convnext(model: nn.Module, head_init_scale: float = 1.0) -> None:
    """``named_apply(partial(_init_weights, head_init_scale=...), model)``."""
    def init(module, name):
        if isinstance(module, nn.Conv2d):
            inverse_cdf_trunc_normal_(module.weight, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Linear):
            inverse_cdf_trunc_normal_(module.weight, std=0.02)
            nn.init.zeros_(module.bias)
            if name and "head." in name + ".":
                module.weight.data.mul_(head_init_scale)
                module.bias.data.mul_(head_init_scale)
    with torch.no_grad():
        _named_apply_post_order(init, model)


def timm_resnet(model: nn.Module) -> None:
    """``ResNet.init_weights(zero_init_last=True)`` with BasicBlocks."""
    for _, module in model.named_modules():
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
    for module in model.modules():
        if type(module).__name__ == "BasicBlock":
            nn.init.zeros_(module.bn2.weight)


def timm_vit_jax(model: nn.Module) -> dict[str, object]:
    """``init_weights_vit_jax``, as per-tensor distributions (bytes differ by design)."""
    out: dict[str, object] = {"pos_embed": TruncNormal(0.0, 0.02, -2.0, 2.0),
                              "cls_token": Normal(0.0, 1e-6)}
    for name, module in model.named_modules():
        if isinstance(module, nn.Linear):
            if name.startswith("head"):
                out[f"{name}.weight"] = Constant(0.0)
                out[f"{name}.bias"] = Constant(0.0)
                continue
            fan_in, fan_out = module.weight.shape[1], module.weight.shape[0]
            bound = math.sqrt(6.0 / (fan_in + fan_out))
            out[f"{name}.weight"] = Uniform(-bound, bound)
            out[f"{name}.bias"] = Normal(0.0, 1e-6) if "mlp" in name else Constant(0.0)
        elif isinstance(module, nn.Conv2d):
            fan_in = module.weight[0].numel()
            std = math.sqrt(1.0 / fan_in) / 0.87962566103423978
            out[f"{name}.weight"] = TruncNormal(0.0, std, -2 * std, 2 * std)
            out[f"{name}.bias"] = Constant(0.0)
    return out


# -- torchtitan 0.3.0 ------------------------------------------------------------------


def titan_llama3(model: nn.Module) -> dict[str, object]:
    """The llama3 registry's ``param_init`` for every tensor, as distributions."""
    out: dict[str, object] = {"tok_embeddings.weight": Normal(0.0, 1.0)}
    for index, layer in enumerate(model.layers):
        depth_std = 0.02 / math.sqrt(2 * (index + 1))
        prefix = f"layers.{index}"
        out[f"{prefix}.attention.qkv_linear.wqkv.weight"] = TruncNormal(0.0, 0.02, -2.0, 2.0)
        out[f"{prefix}.feed_forward.w1.weight"] = TruncNormal(0.0, 0.02, -2.0, 2.0)
        for name in ("attention.wo", "feed_forward.w2", "feed_forward.w3"):
            out[f"{prefix}.{name}.weight"] = TruncNormal(0.0, depth_std, -2.0, 2.0)
        out[f"{prefix}.attention_norm.weight"] = Constant(1.0)
        out[f"{prefix}.ffn_norm.weight"] = Constant(1.0)
    out["norm.weight"] = Constant(1.0)
    dim = model.lm_head.weight.shape[1]
    out["lm_head.weight"] = TruncNormal(0.0, dim ** -0.5, -3 * dim ** -0.5, 3 * dim ** -0.5)
    return out
