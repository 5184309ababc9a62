"""``initdsl lsp`` with a real LSP client over stdio (pytest-lsp): what the editor sees."""

from __future__ import annotations

import sys

import pytest

pytest.importorskip("pygls")
pytest_lsp = pytest.importorskip("pytest_lsp")

from lsprotocol import types  # noqa: E402
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities  # noqa: E402

from initdsl.tools.lint import lint  # noqa: E402

from .conftest import REPO  # noqa: E402


@pytest_lsp.fixture(scope="module", config=ClientServerConfig(
    server_command=[sys.executable, "-m", "initdsl", "lsp"]))
async def client(lsp_client: LanguageClient):
    await lsp_client.initialize_session(types.InitializeParams(
        capabilities=client_capabilities("visual-studio-code"),
        root_uri=REPO.as_uri()))
    yield
    await lsp_client.shutdown_session()


async def _open(client, path, text, version=1):
    uri = path.as_uri()
    client.text_document_did_open(types.DidOpenTextDocumentParams(
        text_document=types.TextDocumentItem(uri=uri, language_id="initdsl", version=version,
                                             text=text)))
    await client.wait_for_notification(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    return uri


TEXT = "Linaer -> normal(std=0.02)\nConv2d -> kaiming(sdt=1)\nFoo -> zeros  # noqa: W201\n"


@pytest.mark.asyncio(loop_scope="module")
async def test_diagnostics_are_the_clis(client, tmp_path):
    path = tmp_path / "p.init"
    uri = await _open(client, path, TEXT)
    got = [(d.code, d.range.start.line + 1, d.range.start.character + 1, d.message)
           for d in client.diagnostics[uri]]
    expected = [(d.code, d.span.line, d.span.column, d.message)
                for d in lint(TEXT, str(path)).diagnostics]
    assert got == expected and {code for code, *_ in got} == {"W201", "E110"}


@pytest.mark.asyncio(loop_scope="module")
async def test_diagnostics_follow_changes(client, tmp_path):
    uri = await _open(client, tmp_path / "q.init", "Linaer -> zeros\n")
    assert [d.code for d in client.diagnostics[uri]] == ["W201"]
    client.text_document_did_change(types.DidChangeTextDocumentParams(
        text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=2),
        content_changes=[types.TextDocumentContentChangeWholeDocument(text="Linear -> zeros\n")]))
    await client.wait_for_notification(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    assert list(client.diagnostics[uri]) == []


@pytest.mark.asyncio(loop_scope="module")
async def test_project_select_and_ignore_apply(client, tmp_path):
    (tmp_path / "pyproject.toml").write_text('[tool.initdsl]\nignore = ["W201"]\n')
    uri = await _open(client, tmp_path / "r.init", "Linaer -> zeros\n")
    assert list(client.diagnostics[uri]) == []


@pytest.mark.asyncio(loop_scope="module")
async def test_formatting_is_fmts(client, tmp_path):
    uri = await _open(client, tmp_path / "f.init", "Linear->normal( std=0.02 )\n")
    edits = await client.text_document_formatting_async(types.DocumentFormattingParams(
        text_document=types.TextDocumentIdentifier(uri=uri),
        options=types.FormattingOptions(tab_size=4, insert_spaces=True)))
    assert [edit.new_text for edit in edits] == ["Linear -> normal(std=0.02)\n"]


@pytest.mark.asyncio(loop_scope="module")
async def test_hover_on_an_initializer_shows_its_formula_and_arguments(client, tmp_path):
    uri = await _open(client, tmp_path / "h.init", "Conv2d -> kaiming(mode=fan_out)\n")
    hover = await client.text_document_hover_async(types.HoverParams(
        text_document=types.TextDocumentIdentifier(uri=uri),
        position=types.Position(line=0, character=12)))
    text = hover.contents.value
    assert text.startswith("**kaiming**") and "fan" in text
    assert "`mode = 'fan_out'` (one of fan_in, fan_out)" in text


@pytest.mark.parametrize("line, expected, absent", [
    ("Conv2d -> ", {"kaiming", "xavier", "trunc_normal"}, {"mode"}),
    ("Conv2d -> kaiming(", {"mode", "nonlinearity", "distribution"}, {"layer"}),
    ("Conv2d -> kaiming(mode=fan_out, ", {"nonlinearity"}, {"mode"}),
    ("Conv2d -> kaiming(mode=", {"fan_in", "fan_out"}, {"nonlinearity"}),
    ("Embedding -> normal(std=0.02) then ", {"zero_row", "scale"}, {"kaiming"}),
])
@pytest.mark.asyncio(loop_scope="module")
async def test_completion(client, tmp_path, line, expected, absent):
    uri = await _open(client, tmp_path / "c.init", line + "\n")
    result = await client.text_document_completion_async(types.CompletionParams(
        text_document=types.TextDocumentIdentifier(uri=uri),
        position=types.Position(line=0, character=len(line))))
    labels = {item.label for item in result.items}
    assert expected <= labels and not absent & labels, labels


def test_the_server_lints_built_in_policies_without_importing_torch(tmp_path):
    import subprocess

    code = ("import sys; from initdsl.tools import lsp; "
            "found = lsp.diagnostics_for('file:///x/p.init', 'Linaer -> kaiming(mode=fan_in)\\n'); "
            "print([d.code for d in found], 'torch' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                          text=True, timeout=60)
    assert done.stdout.strip() == "['W201'] False", done.stderr


# -- with the project's model: the explain view of a rule, and the model's names ------------

VIT_POLICY = (REPO / "examples" / "vit.init").read_text()
VIT_LINEAR = next(n for n, line in enumerate(VIT_POLICY.splitlines()) if line.startswith("Linear"))


@pytest.fixture
def vit_project(tmp_path):
    (tmp_path / "pyproject.toml").write_text(
        '[tool.initdsl]\nmodel = "initdsl.zoo:vit_b16"\n')
    return tmp_path


async def _hover(client, uri, line, character):
    return await client.text_document_hover_async(types.HoverParams(
        text_document=types.TextDocumentIdentifier(uri=uri),
        position=types.Position(line=line, character=character)))


@pytest.mark.asyncio(loop_scope="module")
async def test_hover_on_a_rule_is_the_explain_view_of_it(client, vit_project):
    from initdsl.tools.explain import explain
    from initdsl.tools.modelspec import build

    path = vit_project / "v.init"
    uri = await _open(client, path, VIT_POLICY)
    hover = await _hover(client, uri, VIT_LINEAR, 2)  # on `Linear`
    text = hover.contents.value
    assert text.startswith(f"**`Linear -> trunc_normal(std=0.02, bias=0)`** ({path}:"
                           f"{VIT_LINEAR + 1}:1)")
    assert "In `VisionTransformer`: writes 98 tensors." in text
    # Each row is what explain resolves for those tensors: the arguments and the draw.
    model = build("initdsl.zoo:vit_b16", device="meta")
    explained = explain(model, _compiled(VIT_POLICY, path))["blocks.3.attn.qkv.weight"].final
    call = f"{explained.name}({', '.join(f'{k}={v!r}' for k, v in explained.args.items())})"
    assert (f"| `blocks.{{0..11}}.attn.qkv.weight` | (2304, 768) | {call} | "
            f"{explained.distribution.describe()} |  |") in text
    assert "| `head.bias` | (1000,) |" in text and "constant(0" in text


def _compiled(text, path):
    from initdsl.language.compiler import compile_policy

    return compile_policy(text, filename=str(path))


@pytest.mark.asyncio(loop_scope="module")
async def test_hover_says_which_rule_overwrites_a_tensor_later(client, vit_project):
    text = "Linear -> normal(std=0.02)\nparam head.weight -> zeros\n"
    path = vit_project / "o.init"
    uri = await _open(client, path, text)
    view = (await _hover(client, uri, 0, 20)).contents.value  # inside the arguments
    assert "writes 98 tensors, 97 of them last." in view
    assert f"| `head.weight` | (1000, 768) | Normal(mean=0, std=0.02, bias=0) | " \
           f"normal(mean=0, std=0.02) | {path}:2:1 |" in view
    later = (await _hover(client, uri, 1, 3)).contents.value
    assert "writes 1 tensor." in later and "| `head.weight` |" in later


@pytest.mark.asyncio(loop_scope="module")
async def test_no_rule_view_without_a_model(client, tmp_path):
    uri = await _open(client, tmp_path / "n.init", "Linear -> normal(std=0.02)\n")
    assert await _hover(client, uri, 0, 2) is None


@pytest.mark.parametrize("text, expected, absent", [
    ("", {"VisionTransformer", "Block", "Linear", "param", "scope"}, set()),
    ("Linear, La", {"LayerNorm", "Attention"}, set()),
    ("param ", {"cls_token", "pos_embed", "patch_embed", "blocks", "norm", "head"}, {"0"}),
    ("param blocks.", {str(i) for i in range(12)}, {"norm1"}),
    ("param blocks.*.", {"norm1", "attn", "norm2", "mlp"}, {"weight"}),
    ("param blocks.{i}.attn.", {"qkv", "proj"}, set()),
    ("Linear.", {"weight", "bias"}, {"qkv"}),
    ("scope ", {"patch_embed", "blocks", "norm", "head"}, {"weight"}),
    ("scope blocks.0.", {"norm1", "attn", "norm2", "mlp"}, set()),
    ("scope blocks.0 {\n  name ", {"norm1", "attn", "norm2", "mlp"}, {"blocks"}),
    ("scope blocks.0 {\n  param attn.", {"qkv", "proj"}, set()),
    ("scope blocks.0 { Linear -> zeros }\nname ", {"blocks", "head"}, {"attn"}),
    # Braces of a capture, a comment or a string are not the block's.
    ("scope blocks.0 {\n  param mlp.{i}.weight -> zeros  # }\n  name ", {"attn", "mlp"},
     {"blocks"}),
    ('scope blocks {\n  scope "0" {\n    name ', {"attn", "mlp"}, {"blocks", "0"}),
])
@pytest.mark.asyncio(loop_scope="module")
async def test_completion_of_the_models_names(client, vit_project, text, expected, absent):
    uri = await _open(client, vit_project / "m.init", text)
    lines = text.split("\n")
    result = await client.text_document_completion_async(types.CompletionParams(
        text_document=types.TextDocumentIdentifier(uri=uri),
        position=types.Position(line=len(lines) - 1, character=len(lines[-1]))))
    labels = {item.label for item in result.items}
    assert expected <= labels and not absent & labels, sorted(labels)[:40]
    if text == "":  # the model's own classes first
        first = sorted(result.items, key=lambda item: item.sort_text or item.label)[0]
        assert first.detail == "in the model"


def test_editors_doc_shows_the_real_rule_view():
    from initdsl.tools import lsp
    from initdsl.tools.modelspec import build

    model = build("initdsl.zoo:vit_b16", device="meta")
    uri = "file:///work/examples/vit.init"
    lsp._documents[uri] = (model, lint(VIT_POLICY, "/work/examples/vit.init", model))
    try:
        view = lsp.rule_view(uri, VIT_LINEAR + 1, 1).replace("/work/examples", "examples")
    finally:
        del lsp._documents[uri]
    doc = (REPO / "docs" / "editors.md").read_text()
    shown = doc.split("```markdown\n")[1].split("```")[0]
    assert view.startswith(shown.rstrip("\n"))
