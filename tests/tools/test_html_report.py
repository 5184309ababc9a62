"""``initdsl explain --html``: the formulas behind the page, the command, and the page as
headless Chromium renders it (DOM and screenshot)."""

from __future__ import annotations

import math
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest
import torch

from initdsl.core.distributions import Constant, Normal, TruncNormal, Uniform
from initdsl.core.modifiers import Scale, ZeroRow
from initdsl.tools.explain import Writer
from initdsl.tools.html_report import density, moments, requested, spread
from tests.tools.conftest import REPO, cli

TITAN = REPO / "examples" / "peers" / "titan_llama3.init"
TITAN_MODEL = "initdsl.zoo:titan_llama3"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


# -- the numbers the page draws ----------------------------------------------------------------

@pytest.mark.parametrize("dist, expected", [
    (Normal(0.0, 0.02), ("std", 0.02)),
    (TruncNormal(0.0, 0.02, -2.0, 2.0), ("std", 0.02)),
    (Uniform(-0.1, 0.3), ("bound", 0.2)),
    (Constant(1.0), None),
])
def test_spread_is_the_std_or_the_uniform_half_width(dist, expected):
    found = spread(dist)
    assert found == expected or (found[0] == expected[0] and math.isclose(found[1], expected[1]))


@pytest.mark.parametrize("then, expected", [
    ((), Normal(0.0, 0.02)),
    ((Scale(0.5),), Normal(0.0, 0.01)),
    ((Scale(-2.0), ZeroRow(0)), Normal(-0.0, 0.04)),  # zero_row leaves the rest alone
])
def test_requested_folds_the_scale_modifiers_in(then, expected):
    writer = Writer("init", "Normal", distribution=Normal(0.0, 0.02), then=then)
    assert requested(writer) == expected


def test_requested_scales_and_orders_uniform_and_truncated_bounds():
    uniform = Writer("init", "Uniform", distribution=Uniform(-1.0, 3.0), then=(Scale(-0.5),))
    assert requested(uniform) == Uniform(-1.5, 0.5)
    trunc = Writer("init", "TruncNormal", distribution=TruncNormal(1.0, 1.0, 0.0, 4.0),
                   then=(Scale(-1.0),))
    assert requested(trunc) == TruncNormal(-1.0, 1.0, -4.0, -0.0)
    assert requested(Writer("load", "Pretrained")) is None


@pytest.mark.parametrize("dist", [
    Normal(0.5, 2.0),
    Uniform(-0.25, 1.0),
    TruncNormal(0.0, 1.0, -1.0, 2.0),   # truly truncated: the mean moves right
    TruncNormal(0.0, 0.02, -2.0, 2.0),  # timm's: no truncation in practice
])
def test_moments_and_density_agree_with_draws(dist):
    generator = torch.Generator().manual_seed(0)
    count = 400_000
    if isinstance(dist, Normal):
        draws = torch.empty(count, dtype=torch.float64).normal_(dist.mean, dist.std,
                                                                generator=generator)
    elif isinstance(dist, Uniform):
        draws = torch.empty(count, dtype=torch.float64).uniform_(dist.low, dist.high,
                                                                 generator=generator)
    else:
        draws = torch.empty(count, dtype=torch.float64)
        torch.nn.init.trunc_normal_(draws, dist.mean, dist.std, dist.a, dist.b,
                                    generator=generator)
    mean, std = moments(dist)
    assert abs(float(draws.mean()) - mean) < 5 * std / math.sqrt(count)
    assert math.isclose(float(draws.std()), std, rel_tol=5e-3)
    # The density integrates to one, and predicts the share of draws below the mean.
    low, high = mean - 8 * std, mean + 8 * std
    steps = 20_000
    xs = [low + (high - low) * k / steps for k in range(steps + 1)]
    ys = [density(dist, x) for x in xs]
    width = (high - low) / steps
    assert math.isclose(sum(ys) * width, 1.0, rel_tol=2e-3)
    below = sum(y for x, y in zip(xs, ys) if x < mean) * width
    assert abs(float((draws < mean).double().mean()) - below) < 5e-3


@pytest.mark.parametrize("a, b", [
    (8.0, 10.0),    # far in the upper tail: Phi(b) - Phi(a) would cancel to nothing
    (-10.0, -8.0),  # its mirror image
    (-1.0, 2.0),
])
def test_truncated_moments_match_integrating_the_density(a, b):
    # Simpson's rule on the unnormalised density exp(-x^2/2): no erf involved.
    steps = 20_000
    h = (b - a) / steps
    xs = [a + k * h for k in range(steps + 1)]
    weights = [1 if k in (0, steps) else 4 if k % 2 else 2 for k in range(steps + 1)]
    mass, first, second = (sum(w * math.exp(-x * x / 2) * x**p for w, x in zip(weights, xs))
                           for p in (0, 1, 2))
    mean = first / mass
    std = math.sqrt(second / mass - mean**2)
    found = moments(TruncNormal(0.0, 1.0, a, b))
    assert found[0] == pytest.approx(mean, rel=1e-9) and found[1] == pytest.approx(std, rel=1e-6)


def test_a_point_truncated_normal_has_no_width():
    assert moments(TruncNormal(5.0, 0.0, -2.0, 2.0)) == (2.0, 0.0)
    assert density(TruncNormal(5.0, 0.0, -2.0, 2.0), 2.0) == 0.0


def test_sampling_reads_evenly_spaced_values_of_tensors_past_float32_precision():
    from initdsl.tools.html_report import SAMPLE, _sample

    big = torch.arange(2**24 + 5, dtype=torch.float64)
    sample = _sample([big], big.numel())
    assert sample.numel() == SAMPLE - 1 or sample.numel() == SAMPLE
    assert sample[0] == 0 and sample[-1] == big.numel() - 1  # the last element, no further
    assert torch.all(sample[1:] > sample[:-1])


@pytest.mark.parametrize("values, shown", [
    (torch.empty(0), "no values (the tensors are empty)"),
    (torch.tensor([1.0, float("inf"), float("nan"), 2.0]), "2 of the values read are not finite"),
    (torch.tensor([float("nan")]), "1 of the values read are not finite"),
    (torch.full((5,), 3.0), "every value is 3"),
])
def test_group_body_says_what_it_cannot_draw(values, shown):
    from initdsl.tools.html_report import _group_body

    assert shown in _group_body(values.double(), Normal(0.0, 1.0), "g")


def test_a_constant_has_no_spread_and_no_density():
    assert moments(Constant(2.0)) == (2.0, 0.0) and density(Constant(2.0), 2.0) == 0.0


# -- the command ---------------------------------------------------------------------------------

@pytest.mark.parametrize("extra, message", [
    (["--apply"], "--apply draws the values for the page of --html; pass --html FILE"),
    (["--html", "report.txt"], "--html report.txt: the page is written to a .html file"),
    (["--html", "no/such/dir/r.html"], "--html no/such/dir/r.html: directory no/such/dir does "
     "not exist"),
    (["--html", "r.html", "--seed", "1"], "--seed seeds the run of --apply; pass --html FILE "
     "--apply"),
    (["--html", "r.html", "--apply", "--seed", str(2**70)], "--seed: "),
])
def test_usage_errors(tmp_path, extra, message):
    result = cli("explain", TITAN, "--model", TITAN_MODEL, *extra, cwd=tmp_path)
    assert result.returncode == 2 and message in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_apply_with_errors_reports_them_once_and_writes_no_page(tmp_path):
    (tmp_path / "bad.init").write_text("scope nothere { Linear -> zeros }\n")
    result = cli("explain", "bad.init", "--model", TITAN_MODEL, "--html", "r.html", "--apply",
                 cwd=tmp_path)
    assert result.returncode == 1 and result.stdout == ""
    assert "bad.init:1:7: E170 the model (Llama3Model) has no submodule `nothere`" in \
        result.stderr
    # The same findings as the table's run, once each, and no run was attempted.
    plain = cli("explain", "bad.init", "--model", TITAN_MODEL, cwd=tmp_path)
    assert result.stderr == plain.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.init"]


def test_page_is_self_contained_and_lists_every_parameter(tmp_path):
    result = cli("explain", TITAN, "--model", TITAN_MODEL, "--html", "r.html", cwd=tmp_path)
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout.startswith("wrote r.html: Llama3Model: 24 parameters (229,824 values)")
    page = (tmp_path / "r.html").read_text()
    # Nothing to fetch: no scripts, links, images or URLs but SVG's namespace.
    assert not re.search(r"<script|<link|<img|<iframe|src=|@import|url\(", page)
    assert set(re.findall(r"https?://[^\s\"']+", page)) == {"http://www.w3.org/2000/svg"}
    assert len(re.findall(r'<tr class="param ', page)) == 24
    assert "<h2>Values</h2>" not in page  # histograms only with --apply
    assert [p.name for p in tmp_path.iterdir()] == ["r.html"]  # no temporary file left


def test_cli_doc_shows_the_real_run(tmp_path):
    doc = (REPO / "docs" / "cli.md").read_text()
    command = re.search(r"^\$ (initdsl explain \S+titan_llama3.init .*--html report.html .*)$",
                        doc, re.M).group(1)
    model = re.search(r"--model '([^']+)'", command).group(1)
    result = cli("explain", TITAN, "--model", model, "--html", tmp_path / "report.html",
                 "--apply", "--seed", "0")
    assert result.returncode == 0, result.stderr
    shown = doc.split(command + "\n")[1].split("\n```")[0]
    assert result.stdout.replace(str(tmp_path / "report.html"), "report.html").strip() == shown


# -- rendered by Chromium --------------------------------------------------------------------

class _Elements(HTMLParser):
    """Every element of a document, as ``(tag, attributes, text)``; text is what follows the
    start tag up to the next tag."""

    def __init__(self) -> None:
        super().__init__()
        self.elements: list[tuple[str, dict[str, str], list[str]]] = []

    def handle_starttag(self, tag, attrs):
        self.elements.append((tag, dict((k, v or "") for k, v in attrs), []))

    def handle_data(self, data):
        if self.elements:
            self.elements[-1][2].append(data)

    def find(self, tag: str, **attrs: str) -> list[tuple[dict[str, str], str]]:
        def key(name: str) -> str:
            return name.rstrip("_").replace("_", "-")

        return [(a, "".join(text)) for t, a, text in self.elements
                if t == tag and all(a.get(key(k)) == v for k, v in attrs.items())]


def _chromium(*args: str, timeout: float = 90) -> subprocess.CompletedProcess:
    # As root Chromium needs --no-sandbox; the background services would try the
    # network, which this machine does not have.
    return subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--hide-scrollbars", *args],
        capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    if CHROMIUM is None:
        pytest.skip("Chromium is not installed (.ci/run installs Debian's chromium)")
    path = tmp_path_factory.mktemp("html")
    result = cli("explain", TITAN, "--model", TITAN_MODEL, "--html", "titan.html", "--apply",
                 "--seed", "0", cwd=path)
    assert (result.returncode, result.stderr) == (0, "")
    url = (path / "titan.html").as_uri()
    dom = _chromium(f"--user-data-dir={path / 'profile-dom'}", "--dump-dom", url)
    assert dom.returncode == 0, dom.stderr[-2000:]
    shot = path / "titan.png"
    screenshot = _chromium(f"--user-data-dir={path / 'profile-shot'}", "--window-size=1100,1800",
                           f"--screenshot={shot}", url)
    assert screenshot.returncode == 0 and shot.exists(), screenshot.stderr[-2000:]
    elements = _Elements()
    elements.feed(dom.stdout)
    return elements, shot


def test_dom_has_the_tree_with_every_parameter_and_its_rule(rendered):
    elements, _ = rendered
    rows = {a["data-name"]: text for a, text in elements.find("tr")
            if "param" in a.get("class", "")}
    assert len(rows) == 24
    links = {a["href"].removeprefix("#") for a, _ in elements.find("a")}
    rules = {a["id"] for a, _ in elements.find("section", class_="rule")}
    assert links <= rules and len(rules) == 8  # each rule that writes a tensor last
    modules = {a["data-module"] for a, _ in elements.find("details")}
    assert {"", "layers", "layers.0.attention.wo", "lm_head"} <= modules


def test_depth_scaling_is_a_falling_curve(rendered):
    elements, _ = rendered
    series = {a["data-series"]: a["points"] for a, _ in elements.find("polyline")
              if a.get("class") == "series"}
    assert "layers.{}.attention.wo.weight" in series
    values = [float(a["data-value"]) for a, _ in elements.find("circle")]
    # wo, w2 and w3 of layers 0, 1, 2: 0.02 / sqrt(2 * (i + 1)), each on the plot
    for i in range(3):
        assert sum(math.isclose(v, 0.02 / math.sqrt(2 * (i + 1))) for v in values) == 3
    ys = [float(point.split(",")[1]) for point in series["layers.{}.attention.wo.weight"].split()]
    assert ys == sorted(ys) and ys[0] < ys[-1]  # SVG's y grows downward: the std falls
    flat = [float(point.split(",")[1]) for point in
            series["layers.{}.attention.qkv_linear.wqkv.weight"].split()]
    assert len(set(flat)) == 1


def test_histograms_follow_the_requested_density(rendered):
    elements, _ = rendered
    groups = elements.find("section", class_="group")
    assert len(groups) == 14  # per rule and distribution; the 3 layers of wo, w2, w3 apart
    histograms = elements.find("svg", class_="histogram")
    curves = elements.find("polyline", class_="expected")
    assert len(histograms) == len(curves) == 13  # the RMSNorm ones are checked, not drawn
    counts = [int(a["data-count"]) for a, _ in elements.find("rect", class_="bar")]
    assert sum(counts) == 229_824 - 448  # every drawn value in a bin, the 448 ones apart
    assert [text.strip() for _, text in elements.find("span", class_="ok")] == ["all equal"]
    stds = [(float(a["data-observed"]), float(a["data-requested"]))
            for a, _ in elements.find("tr", data_stat="std")]
    assert len(stds) == 13
    for observed, asked in stds:  # 4,096 values or more each: within a few percent
        assert abs(observed / asked - 1) < 0.05


def test_screenshot_shows_the_plots(rendered):
    PIL = pytest.importorskip("PIL.Image")
    _, shot = rendered
    image = PIL.open(shot).convert("RGB")
    assert image.size == (1100, 1800)
    colours = {colour: count for count, colour in image.getcolors(1100 * 1800)}

    def near(target: tuple[int, int, int]) -> int:
        return sum(count for colour, count in colours.items()
                   if max(abs(a - b) for a, b in zip(colour, target)) <= 12)

    assert near((255, 255, 255)) > 0.5 * 1100 * 1800  # a page, not a blank or error screen
    assert near((0x1F, 0x77, 0xB4)) > 2000  # the first series' lines and markers
    assert near((0x18, 0x18, 0x18)) + near((0x1B, 0x1B, 0x1B)) > 2000  # text


def test_a_failed_write_keeps_the_old_page_and_leaves_no_temporary(tmp_path, monkeypatch):
    import os

    def full_disk(source, target):
        raise OSError(28, "No space left on device")

    (tmp_path / "old.html").write_text("the old page")
    monkeypatch.setattr(os, "replace", full_disk)
    result = cli("explain", TITAN, "--model", TITAN_MODEL, "--html", "old.html", cwd=tmp_path)
    assert (result.returncode, result.stderr.strip()) == (
        2, "initdsl explain: error: --html old.html: cannot write it: No space left on device")
    assert (tmp_path / "old.html").read_text() == "the old page"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old.html"]


def test_pages_are_reproducible(tmp_path):
    for name in ("a.html", "b.html"):
        result = cli("explain", TITAN, "--model", TITAN_MODEL, "--html", name, "--apply",
                     "--seed", "3", cwd=tmp_path)
        assert result.returncode == 0, result.stderr
    assert Path(tmp_path / "a.html").read_text() == Path(tmp_path / "b.html").read_text()
