// Starts `initdsl lsp` for .init files: diagnostics, formatting, hover, completion.
const vscode = require("vscode");
const { LanguageClient, TransportKind } = require("vscode-languageclient/node");

let client;

function activate(context) {
  const [command, ...args] = vscode.workspace
    .getConfiguration("initdsl")
    .get("server.command", ["initdsl", "lsp"]);
  client = new LanguageClient(
    "initdsl",
    "initdsl",
    { command, args, transport: TransportKind.stdio },
    { documentSelector: [{ scheme: "file", language: "initdsl" }] }
  );
  context.subscriptions.push({ dispose: () => client && client.stop() });
  return client.start();
}

function deactivate() {
  return client ? client.stop() : undefined;
}

module.exports = { activate, deactivate };
