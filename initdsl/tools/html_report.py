"""``initdsl explain --html``: the explanation as one self-contained page.

The page has three parts, all drawn from an :class:`~initdsl.tools.explain.Explanation`:

* the **module tree**, each parameter with its shape, what writes it and the
  rule's ``file:line:col`` (a link to the rule);
* per **rule**, the policy text and a plot of the resolved standard
  deviation (or uniform bound) of every tensor it writes, against the layer
  index in the tensor's name: ``std=0.02 / sqrt(2 * (i + 1))`` is a curve,
  a fan-dependent ``kaiming`` a step wherever the width changes;
* with the values of an initialized model (``--apply``), per **group** of
  tensors a rule draws from one distribution, the histogram of their values
  with the density the rule asked for drawn over it, and the observed mean
  and standard deviation beside the requested ones.

The plots are inline SVG and the style inline CSS: the page needs no
network, no script and no file beside it, so it can be attached to a pull
request or a bug report as it is. Building it reads only the explanation
(and, for histograms, the values); nothing here writes a tensor.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from typing import Any

from ..core.distributions import Constant, Normal, TruncNormal, Uniform
from ..core.formulas import normal_cdf
from ..core.initializers import KeepInit
from ..core.modifiers import Scale
from ..core.registry import WEIGHT_INITIALIZERS
from .explain import Explanation, Parameter, Writer
from .findings import collapse_names

__all__ = ["render_html", "requested", "spread", "moments", "density"]

#: Series colours (Tableau 10: distinguishable, and for the common kinds of
#: colour blindness the first four are).
COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
           "#7f7f7f", "#bcbd22", "#17becf")
_KEEP = WEIGHT_INITIALIZERS.name_of(KeepInit)
DASHES = ("none", "7 4", "2 3", "9 3 2 3")
#: At most this many values of a group are read for its histogram (evenly spaced).
SAMPLE = 1 << 18
BINS = 48


# -- what a rule asks for ------------------------------------------------------------------

def requested(writer: Writer) -> Any:
    """The distribution ``writer`` leaves in its tensor: what it draws, times its ``scale``\\ s.

    ``zero_row`` is not folded in (it changes one row, not the distribution of
    the rest). ``None`` when nothing is drawn from a known distribution (a
    load, user code, a custom initializer).
    """
    dist = writer.distribution
    if not isinstance(dist, (Constant, Normal, Uniform, TruncNormal)):
        return None
    for modifier in writer.then:
        if isinstance(modifier, Scale):
            dist = _scaled(dist, float(modifier.factor))
    return dist


def _scaled(dist: Any, factor: float) -> Any:
    if isinstance(dist, Constant):
        return Constant(dist.value * factor)
    if isinstance(dist, Normal):
        return Normal(dist.mean * factor, dist.std * abs(factor))
    if isinstance(dist, Uniform):
        low, high = sorted((dist.low * factor, dist.high * factor))
        return Uniform(low, high)
    low, high = sorted((dist.a * factor, dist.b * factor))
    return TruncNormal(dist.mean * factor, dist.std * abs(factor), low, high)


def spread(dist: Any) -> tuple[str, float] | None:
    """``("std", σ)`` of a normal or truncated normal (the σ asked for), ``("bound", h)``
    of a uniform (its half-width), ``None`` for a constant or an unknown draw."""
    if isinstance(dist, (Normal, TruncNormal)):
        return "std", float(dist.std)
    if isinstance(dist, Uniform):
        return "bound", (float(dist.high) - float(dist.low)) / 2
    return None


def _phi(x: float) -> float:
    return math.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)


def _truncation(dist: TruncNormal) -> tuple[float, float, float]:
    """:math:`\\alpha`, :math:`\\beta` and the mass :math:`Z` the normal puts on ``[a, b]``."""
    alpha = (dist.a - dist.mean) / dist.std
    beta = (dist.b - dist.mean) / dist.std
    # Far in a tail Phi(beta) - Phi(alpha) is the difference of two numbers near 1
    # (or 0); the complementary error functions keep the digits.
    if alpha > 0:
        mass = 0.5 * (math.erfc(alpha / math.sqrt(2)) - math.erfc(beta / math.sqrt(2)))
    elif beta < 0:
        mass = 0.5 * (math.erfc(-beta / math.sqrt(2)) - math.erfc(-alpha / math.sqrt(2)))
    else:
        mass = normal_cdf(beta) - normal_cdf(alpha)
    return alpha, beta, mass


def moments(dist: Any) -> tuple[float, float] | None:
    r"""Mean and standard deviation of the values ``dist`` draws.

    Uniform: :math:`(l+h)/2`, :math:`(h-l)/\sqrt{12}`. Truncated normal on
    :math:`[a, b]` with :math:`\alpha = (a-\mu)/\sigma`, :math:`\beta = (b-\mu)/\sigma`,
    :math:`Z = \Phi(\beta) - \Phi(\alpha)`: mean
    :math:`\mu + \sigma(\varphi(\alpha) - \varphi(\beta))/Z`, variance
    :math:`\sigma^2[1 + (\alpha\varphi(\alpha) - \beta\varphi(\beta))/Z
    - ((\varphi(\alpha) - \varphi(\beta))/Z)^2]`.
    """
    if isinstance(dist, Constant):
        return float(dist.value), 0.0
    if isinstance(dist, Normal):
        return float(dist.mean), float(dist.std)
    if isinstance(dist, Uniform):
        return (dist.low + dist.high) / 2, (dist.high - dist.low) / math.sqrt(12)
    if isinstance(dist, TruncNormal):
        if not dist.std > 0:  # a point, clamped into [a, b]
            return min(max(float(dist.mean), dist.a), dist.b), 0.0
        alpha, beta, mass = _truncation(dist)
        if mass <= 0:
            return None
        shift = (_phi(alpha) - _phi(beta)) / mass
        variance = 1 + (alpha * _phi(alpha) - beta * _phi(beta)) / mass - shift * shift
        return dist.mean + dist.std * shift, dist.std * math.sqrt(max(variance, 0.0))
    return None


def density(dist: Any, x: float) -> float:
    """The probability density of ``dist`` at ``x`` (0 for a constant)."""
    if isinstance(dist, Normal):
        return _phi((x - dist.mean) / dist.std) / dist.std if dist.std > 0 else 0.0
    if isinstance(dist, Uniform):
        width = dist.high - dist.low
        return 1 / width if width > 0 and dist.low <= x <= dist.high else 0.0
    if isinstance(dist, TruncNormal):
        if not dist.std > 0 or not dist.a <= x <= dist.b:
            return 0.0
        _, _, mass = _truncation(dist)
        if mass <= 0:
            return 0.0
        return _phi((x - dist.mean) / dist.std) / (dist.std * mass)
    return 0.0


# -- SVG -------------------------------------------------------------------------------------

_WIDTH, _HEIGHT = 560, 220
_LEFT, _RIGHT, _TOP, _BOTTOM = 64, 16, 12, 40


def _ticks(low: float, high: float, count: int = 5) -> list[float]:
    """About ``count`` round numbers covering ``[low, high]``."""
    if not high > low:
        return [low]
    raw = (high - low) / count
    step = 10 ** math.floor(math.log10(raw))
    for multiple in (1, 2, 5, 10):
        if raw <= multiple * step:
            step *= multiple
            break
    first = math.ceil(low / step - 1e-9)
    return [k * step for k in range(first, math.floor(high / step + 1e-9) + 1)]


def _number(value: float) -> str:
    if abs(value) >= 1000 and float(value).is_integer():
        return f"{value:,.0f}"
    return f"{value:.3g}" if value else "0"


def _label(dist: Any) -> str:
    """``dist`` in the language's words, to four significant digits."""
    if isinstance(dist, Constant):
        return f"constant({dist.value:.4g})"
    if isinstance(dist, Normal):
        return f"normal(mean={dist.mean:.4g}, std={dist.std:.4g})"
    if isinstance(dist, Uniform):
        return f"uniform(a={dist.low:.4g}, b={dist.high:.4g})"
    if isinstance(dist, TruncNormal):
        return f"trunc_normal(mean={dist.mean:.4g}, std={dist.std:.4g}, a={dist.a:.4g}, " \
               f"b={dist.b:.4g})"
    return "not known before running"


class _Frame:
    """Data coordinates to SVG pixels, with the axes and their labels."""

    def __init__(self, x: tuple[float, float], y: tuple[float, float]) -> None:
        self.x0, self.x1 = x if x[1] > x[0] else (x[0] - 0.5, x[0] + 0.5)
        self.y0, self.y1 = y if y[1] > y[0] else (y[0] - 0.5, y[0] + 0.5)

    def px(self, x: float) -> float:
        return _LEFT + (x - self.x0) / (self.x1 - self.x0) * (_WIDTH - _LEFT - _RIGHT)

    def py(self, y: float) -> float:
        return _HEIGHT - _BOTTOM - (y - self.y0) / (self.y1 - self.y0) * (
            _HEIGHT - _TOP - _BOTTOM)

    def axes(self, x_label: str, y_label: str, x_ticks: Sequence[float] | None = None) -> str:
        parts = [f'<rect class="plot-area" x="{_LEFT}" y="{_TOP}" '
                 f'width="{_WIDTH - _LEFT - _RIGHT}" height="{_HEIGHT - _TOP - _BOTTOM}"/>']
        for y in _ticks(self.y0, self.y1):
            py = self.py(y)
            parts.append(f'<line class="grid" x1="{_LEFT}" x2="{_WIDTH - _RIGHT}" '
                         f'y1="{py:.1f}" y2="{py:.1f}"/>')
            parts.append(f'<text class="tick" x="{_LEFT - 6}" y="{py + 4:.1f}" '
                         f'text-anchor="end">{_number(y)}</text>')
        for x in (x_ticks if x_ticks is not None else _ticks(self.x0, self.x1, 8)):
            px = self.px(x)
            parts.append(f'<text class="tick" x="{px:.1f}" y="{_HEIGHT - _BOTTOM + 16}" '
                         f'text-anchor="middle">{_number(x)}</text>')
        parts.append(f'<text class="label" x="{(_LEFT + _WIDTH - _RIGHT) / 2}" '
                     f'y="{_HEIGHT - 6}" text-anchor="middle">{html.escape(x_label)}</text>')
        parts.append(f'<text class="label" x="14" y="{(_TOP + _HEIGHT - _BOTTOM) / 2}" '
                     f'text-anchor="middle" transform="rotate(-90 14 '
                     f'{(_TOP + _HEIGHT - _BOTTOM) / 2})">{html.escape(y_label)}</text>')
        return "".join(parts)


def _svg(kind: str, body: str, label: str) -> str:
    return (f'<svg class="{kind}" role="img" aria-label="{html.escape(label)}" '
            f'viewBox="0 0 {_WIDTH} {_HEIGHT}" width="{_WIDTH}" height="{_HEIGHT}" '
            f'xmlns="http://www.w3.org/2000/svg">{body}</svg>')


def _line_chart(series: Sequence[tuple[str, Sequence[tuple[float, float, str]]]],
                y_label: str, label: str) -> str:
    """One polyline with markers per series of ``(x, y, tooltip)`` points."""
    xs = [x for _, points in series for x, _, _ in points]
    ys = [y for _, points in series for _, y, _ in points]
    frame = _Frame((min(xs), max(xs)), (0.0, max(ys) * 1.1 if max(ys) > 0 else 1.0))
    integers = sorted(set(xs))
    step = max(1, math.ceil(len(integers) / 12))
    parts = [frame.axes("layer index", y_label, integers[::step])]
    for number, (name, points) in enumerate(series):
        colour = COLOURS[number % len(COLOURS)]
        line = " ".join(f"{frame.px(x):.1f},{frame.py(y):.1f}" for x, y, _ in points)
        # Series that coincide (every Linear at 0.02) stay visible through the dashes.
        dash = DASHES[number % len(DASHES)]
        parts.append(f'<polyline class="series" data-series="{html.escape(name)}" '
                     f'fill="none" stroke="{colour}" stroke-width="2" '
                     f'stroke-dasharray="{dash}" points="{line}"/>')
        for x, y, tip in points:
            parts.append(f'<circle class="point" cx="{frame.px(x):.1f}" cy="{frame.py(y):.1f}" '
                         f'r="3.5" fill="{colour}" data-value="{y!r}"><title>'
                         f'{html.escape(tip)}</title></circle>')
    return _svg("spread", "".join(parts), label)


def _histogram_chart(counts: Sequence[int], low: float, high: float,
                     curve: Sequence[tuple[float, float]], label: str) -> str:
    """Bars of ``counts`` over ``[low, high]`` and the expected counts as a curve."""
    top = max(list(counts) + [y for _, y in curve] + [1])
    frame = _Frame((low, high), (0.0, top * 1.08))
    width = (high - low) / len(counts)
    parts = [frame.axes("value", "tensor values per bin")]
    for index, count in enumerate(counts):
        x0 = frame.px(low + index * width)
        x1 = frame.px(low + (index + 1) * width)
        y = frame.py(count)
        parts.append(f'<rect class="bar" x="{x0:.1f}" y="{y:.1f}" '
                     f'width="{max(x1 - x0 - 1, 1):.1f}" height="{frame.py(0) - y:.1f}" '
                     f'data-count="{count}"/>')
    if curve:
        line = " ".join(f"{frame.px(x):.1f},{frame.py(y):.1f}" for x, y in curve)
        parts.append(f'<polyline class="expected" fill="none" points="{line}"/>')
    return _svg("histogram", "".join(parts), label)


# -- the page -------------------------------------------------------------------------------

_STYLE = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 24px auto;
       max-width: 1100px; color: #1b1b1b; background: #fff; padding: 0 16px; }
h1 { font-size: 22px; margin-bottom: 4px; } h2 { font-size: 18px; margin-top: 32px; }
h3 { font-size: 15px; margin-bottom: 4px; }
code, pre, .mono { font-family: ui-monospace, "SF Mono", Menlo, Consolas, monospace;
                   font-size: 12.5px; }
pre.rule { background: #f5f5f2; padding: 6px 10px; border-left: 3px solid #1f77b4;
           margin: 4px 0 8px; white-space: pre-wrap; }
.summary { color: #444; }
ul.tree, ul.tree ul { list-style: none; padding-left: 18px; margin: 0; }
ul.tree { padding-left: 0; }
details > summary { cursor: pointer; }
.cls { color: #6a6a6a; }
table.params { border-collapse: collapse; margin: 2px 0 4px 18px; }
table.params td { padding: 1px 10px 1px 0; vertical-align: top; }
tr.unwritten td { color: #999; }
table.stats { border-collapse: collapse; margin: 6px 0; }
table.stats th, table.stats td { padding: 2px 12px 2px 0; text-align: right; }
table.stats th:first-child, table.stats td:first-child { text-align: left; }
svg { display: block; margin: 6px 0 2px; }
svg .plot-area { fill: #fcfcfb; stroke: #ccc; }
svg .grid { stroke: #e6e6e6; }
svg .tick, svg .label { font: 11px system-ui, sans-serif; fill: #555; }
svg .bar { fill: #9ecae1; }
svg .expected { stroke: #d62728; stroke-width: 2; }
.legend span { display: inline-block; margin-right: 14px; }
.legend i { display: inline-block; width: 14px; height: 3px; vertical-align: middle;
            margin-right: 5px; }
.note { color: #666; font-size: 13px; }
.values { display: flex; align-items: center; gap: 18px; flex-wrap: wrap; }
.ok { color: #2ca02c; } .off { color: #d62728; }
"""


def _unresolved(writer: Writer) -> str:
    """What a write without a known distribution leaves."""
    if writer.kind == "load":
        return "loaded from a checkpoint"
    if writer.kind == "init" and writer.name == _KEEP:
        return "kept as the constructor wrote them"
    if writer.kind == "init":
        return "a custom initializer: what it draws is known by running it"
    if writer.kind == "unknown":
        return "a checkpoint that could not be inspected may load them"
    return "user code: what it writes is known by running it"


def _rule_key(writer: Writer | None) -> str | None:
    if writer is None or not writer.certain or writer.kind != "init":
        return None
    return writer.where


def _layer_index(name: str) -> tuple[int, ...]:
    """``(3,)`` for ``blocks.3.mlp.fc1.weight``: the numbers in the name."""
    return tuple(int(part) for part in name.split(".") if part.isdigit())


def _position(writer: Writer) -> tuple[float, float]:
    """Where the rule is in the policy, to list rules in its order (a model's own rules last)."""
    span = writer.origin.source if writer.origin is not None else None
    return (span.line, span.column) if hasattr(span, "line") else (math.inf, math.inf)


def _anchor(key: str) -> str:
    return "rule-" + "".join(c if c.isalnum() else "-" for c in key)


def _policy_text(policy: str, writer: Writer) -> str | None:
    span = writer.origin.source if writer.origin is not None else None
    if span is None or not hasattr(span, "line"):
        return None
    lines = policy.split("\n")[span.line - 1:span.end_line]
    return "\n".join(lines).rstrip() or None


def _rules_section(explanation: Explanation, policy: str) -> str:
    rules: dict[str, list[Parameter]] = {}
    first: dict[str, Writer] = {}
    for parameter in explanation.parameters:
        key = _rule_key(parameter.final)
        if key is not None:
            rules.setdefault(key, []).append(parameter)
            first.setdefault(key, parameter.final)
    parts = ["<h2>Rules</h2>",
             '<p class="note">What each rule leaves in the tensors it writes last: the '
             "standard deviation asked for (or the bound of a uniform), resolved for each "
             "tensor's shape, by the layer index in its name.</p>"]
    # In the policy's order; a model's own rules (no position) last.
    for key in sorted(rules, key=lambda k: _position(first[k])):
        members, writer = rules[key], first[key]
        parts.append(f'<section class="rule" id="{_anchor(key)}">')
        parts.append(f"<h3><code>{html.escape(key)}</code> &middot; {len(members)} "
                     f"tensor{'s' if len(members) != 1 else ''}</h3>")
        text = _policy_text(policy, writer)
        if text:
            parts.append(f'<pre class="rule">{html.escape(text)}</pre>')
        parts.append(_spread_plot(key, members))
        parts.append("</section>")
    return "\n".join(parts)


def _spread_plot(key: str, members: Sequence[Parameter]) -> str:
    series: dict[str, list[tuple[int, float, str]]] = {}
    kinds: set[str] = set()
    constants: dict[str, list[str]] = {}
    for parameter in members:
        dist = requested(parameter.final)
        pattern, index = parameter.pattern, _layer_index(parameter.name)
        found = spread(dist)
        if found is None:
            what = (f"constant {dist.value:.4g}" if isinstance(dist, Constant)
                    else _unresolved(parameter.final))
            constants.setdefault(what, []).append(parameter.name)
            continue
        kind, value = found
        if not index:  # one tensor, no layer to plot it against
            constants.setdefault(f"{kind} {value:.4g}", []).append(parameter.name)
            continue
        kinds.add(kind)
        points = series.setdefault(pattern, [])
        x = index[-1] if len(index) == 1 else len(points)
        points.append((x, value, f"{parameter.name}: {_label(dist)}"))
    parts = []
    if series:
        y_label = " or ".join(sorted(kinds, reverse=True))
        ordered = sorted(series.items())
        parts.append(_line_chart(ordered, y_label, f"{y_label} by layer index for {key}"))
        parts.append('<div class="legend">' + "".join(
            f'<span><i style="background:{COLOURS[n % len(COLOURS)]}"></i>'
            f"<code>{html.escape(name)}</code></span>" for n, (name, _) in enumerate(ordered))
            + "</div>")
    for what, names in constants.items():
        shown = ", ".join(collapse_names(names)[:6])
        parts.append(f'<p class="note">{html.escape(what)}: <code>{html.escape(shown)}</code>'
                     f"{' ...' if len(collapse_names(names)) > 6 else ''}</p>")
    return "\n".join(parts)


def _tree_section(explanation: Explanation, classes: Mapping[str, str]) -> str:
    by_module: dict[str, list[Parameter]] = {}
    for parameter in explanation.parameters:
        module = parameter.name.rpartition(".")[0]
        by_module.setdefault(module, []).append(parameter)
    children: dict[str, list[str]] = {}
    modules = list(dict.fromkeys(list(classes) + list(by_module)))
    for module in modules:
        if not module:
            continue
        parent = module.rpartition(".")[0]
        while parent and parent not in classes and parent not in by_module:
            parent = parent.rpartition(".")[0]
        children.setdefault(parent, []).append(module)

    def node(module: str, depth: int) -> str:
        name = module.rpartition(".")[2] or explanation.model
        cls = classes.get(module, "")
        label = f"<code>{html.escape(name)}</code> <span class=\"cls\">{html.escape(cls)}</span>"
        inner = []
        rows = by_module.get(module, [])
        if rows:
            inner.append('<table class="params">')
            for parameter in rows:
                writer, rule = parameter.written_by()
                key = _rule_key(parameter.final)
                link = (f'<a href="#{_anchor(key)}">{html.escape(rule)}</a>' if key
                        else html.escape(rule))
                status = parameter.status
                shape = parameter.shape_text
                inner.append(f'<tr class="param {status}" '
                             f'data-name="{html.escape(parameter.name)}">'
                             f"<td><code>{html.escape(parameter.name.rpartition('.')[2])}</code>"
                             f"</td><td class=\"mono\">{shape}</td>"
                             f"<td class=\"mono\">{html.escape(writer)}</td>"
                             f"<td class=\"mono\">{link}</td></tr>")
            inner.append("</table>")
        kids = children.get(module, [])
        if kids:
            inner.append("<ul>" + "".join(f"<li>{node(kid, depth + 1)}</li>" for kid in kids)
                         + "</ul>")
        opened = " open" if depth < 2 else ""
        return (f'<details class="module" data-module="{html.escape(module)}"{opened}>'
                f"<summary>{label}</summary>{''.join(inner)}</details>")

    return "<h2>Module tree</h2>\n<ul class=\"tree\"><li>" + node("", 0) + "</li></ul>"


#: A rule that draws from more distributions than this (one per width, per layer) shows
#: its first and last groups and says how many it leaves out.
GROUPS_PER_RULE = 4


def _values_section(explanation: Explanation, values: Mapping[str, Any]) -> str:
    # A group is the tensors one rule draws from one distribution (the resolved value
    # object, not its rounded label: kaiming's std for fans 4095 and 4096 differ).
    groups: dict[tuple[str, Any], list[Parameter]] = {}
    writers: dict[str, Writer] = {}
    for parameter in explanation.parameters:
        final = parameter.final
        if final is None or parameter.name not in values:
            continue
        dist = requested(final) if final.kind == "init" else None
        where = final.where or final.name
        groups.setdefault((where, dist if dist is not None else _unresolved(final)),
                          []).append(parameter)
        writers.setdefault(where, final)
    by_rule: dict[str, list[tuple[str, Any]]] = {}
    for key in groups:
        by_rule.setdefault(key[0], []).append(key)
    parts = ["<h2>Values</h2>",
             '<p class="note">The initialized values of each group of tensors a rule draws '
             "from one distribution: their histogram (bars) and the density the rule asked "
             "for (the red curve, in expected values per bin).</p>"]
    for where in sorted(by_rule, key=lambda w: _position(writers[w])):
        keys = by_rule[where]
        shown = keys if len(keys) <= GROUPS_PER_RULE else (
            keys[:GROUPS_PER_RULE // 2] + keys[-(GROUPS_PER_RULE // 2):])
        for number, key in enumerate(shown):
            if len(shown) < len(keys) and number == GROUPS_PER_RULE // 2:
                parts.append(f'<p class="note">... {len(keys) - len(shown)} more groups of '
                             f"<code>{html.escape(where)}</code> between these</p>")
            parts.append(_group(key, groups[key], values))
    return "\n".join(parts)


def _group(key: tuple[str, Any], members: Sequence[Parameter], values: Mapping[str, Any]
           ) -> str:
    where, dist = key
    what = dist if isinstance(dist, str) else _label(dist)
    dist = None if isinstance(dist, str) else dist
    tensors = [values[p.name].detach().reshape(-1) for p in members]
    count = sum(t.numel() for t in tensors)
    names = collapse_names([p.name for p in members])
    head = (f'<section class="group"><h3><code>{html.escape(where)}</code>: '
            f"{html.escape(what)}</h3>"
            f'<p class="note"><code>{html.escape(", ".join(names[:4]))}</code>'
            f"{' ...' if len(names) > 4 else ''} &middot; {len(members)} "
            f"tensor{'s' if len(members) != 1 else ''}, {count:,} values")
    if isinstance(dist, Constant):
        differ = sum(int((t != dist.value).sum()) for t in tensors)
        verdict = ('<span class="ok">all equal</span>' if differ == 0
                   else f'<span class="off">{differ:,} differ</span>')
        return (head + f'</p><p class="constant">every value should be {dist.value:.4g}: '
                f"{verdict}</p></section>")
    sample = _sample(tensors, count)
    read = f" ({sample.numel():,} read, evenly spaced)" if sample.numel() < count else ""
    return head + read + "</p>" + _group_body(sample, dist, f"{where} {what}") + "</section>"


def _sample(tensors: Sequence[Any], count: int) -> Any:
    """At most about :data:`SAMPLE` values, evenly spaced in each tensor, as float64."""
    import torch

    parts = []
    for tensor in tensors:
        size = tensor.numel()
        take = size if count <= SAMPLE else max(1, size * SAMPLE // count)
        if take < size:
            # Integer arithmetic: float32 linspace rounds past the end above 2**24 elements.
            tensor = tensor[torch.arange(take) * (size - 1) // max(take - 1, 1)]
        parts.append(tensor.to(torch.float64))
    return torch.cat(parts)


def _group_body(flat: Any, dist: Any, label: str) -> str:
    import torch

    finite = torch.isfinite(flat)
    bad = int((~finite).sum())
    flat = flat[finite]
    warning = (f'<p class="off">{bad:,} of the values read are not finite (inf or nan); '
               "the histogram shows the rest</p>" if bad else "")
    if flat.numel() == 0:
        return warning or '<p class="note">no values (the tensors are empty)</p>'
    mean = float(flat.mean())
    std = float(flat.std()) if flat.numel() > 1 else 0.0
    low, high = float(flat.min()), float(flat.max())
    if not high > low:
        return warning + f'<p class="note">every value is {_number(low)}</p>'
    expected = moments(dist) if dist is not None else None
    counts = [int(c) for c in _histogram_counts(flat, low, high)]
    width = (high - low) / BINS
    curve = []
    if dist is not None:
        steps = 200
        curve = [(low + (high - low) * k / steps,
                  flat.numel() * width * density(dist, low + (high - low) * k / steps))
                 for k in range(steps + 1)]
    rows = [("mean", mean, expected[0] if expected else None),
            ("std", std, expected[1] if expected else None),
            ("min", low, getattr(dist, "low", getattr(dist, "a", None))),
            ("max", high, getattr(dist, "high", getattr(dist, "b", None)))]
    table = ('<table class="stats"><tr><th></th><th>observed</th><th>asked for</th></tr>'
             + "".join(f'<tr data-stat="{name}" data-observed="{seen!r}" '
                       f'data-requested="{"" if want is None else repr(float(want))}">'
                       f"<td>{name}</td><td>{_number(seen)}</td>"
                       f"<td>{'' if want is None else _number(want)}</td></tr>"
                       for name, seen, want in rows) + "</table>")
    return (warning + '<div class="values">'
            + _histogram_chart(counts, low, high, curve, f"histogram of {label}")
            + table + "</div>")


def _histogram_counts(flat: Any, low: float, high: float) -> list[int]:
    """Counts in :data:`BINS` equal bins over ``[low, high]`` (the top edge included)."""
    import torch

    return torch.histc(flat, bins=BINS, min=low, max=high).to(torch.int64).tolist()


def render_html(explanation: Explanation, *, policy: str, policy_name: str,
                classes: Mapping[str, str] | None = None,
                values: Mapping[str, Any] | None = None) -> str:
    """The page for ``explanation`` of ``policy`` (its text, for the rules' lines).

    Args:
        explanation: what :func:`initdsl.tools.explain.explain` resolved.
        policy: the policy's source text.
        policy_name: its file name, for the title.
        classes: module qualified name -> class name, for the tree (``""`` is the model).
        values: parameter name -> its initialized tensor; with them the page
            shows each group's histogram against the requested distribution.
    """
    title = f"{explanation.model} initialized by {policy_name}"
    body = [f"<h1>{html.escape(title)}</h1>",
            f'<p class="summary">{html.escape(explanation.summary_line())}</p>',
            _rules_section(explanation, policy)]
    if values is not None:
        body.append(_values_section(explanation, values))
    body.append(_tree_section(explanation, classes or {}))
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{html.escape(title)}</title>"
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<style>{_STYLE}</style></head>\n<body>\n" + "\n".join(body)
            + "\n</body></html>\n")
