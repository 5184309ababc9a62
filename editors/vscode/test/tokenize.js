// Tokenize .init files with vscode-textmate (VS Code's engine) and the extension's grammar.
// Usage: node tokenize.js GRAMMAR FILE...   One block per file: "== FILE", then one line
// per token: "LINE:COL<TAB>TEXT<TAB>SCOPES" (scopes below the root, space-separated).
const fs = require("fs");
const path = require("path");
const textmate = require("vscode-textmate");
const oniguruma = require("vscode-oniguruma");

async function main() {
  const [grammarPath, ...files] = process.argv.slice(2);
  const wasm = fs.readFileSync(path.join(require.resolve("vscode-oniguruma"), "..", "onig.wasm"));
  await oniguruma.loadWASM(wasm.buffer);
  const registry = new textmate.Registry({
    onigLib: Promise.resolve({
      createOnigScanner: (patterns) => new oniguruma.OnigScanner(patterns),
      createOnigString: (text) => new oniguruma.OnigString(text),
    }),
    loadGrammar: async () =>
      textmate.parseRawGrammar(fs.readFileSync(grammarPath, "utf8"), grammarPath),
  });
  const grammar = await registry.loadGrammar("source.initdsl");
  const out = [];
  for (const file of files) {
    out.push(`== ${file}`);
    let state = textmate.INITIAL;
    fs.readFileSync(file, "utf8").split("\n").forEach((line, index) => {
      const result = grammar.tokenizeLine(line, state);
      for (const token of result.tokens) {
        const text = line.slice(token.startIndex, token.endIndex);
        if (!text.trim()) continue;
        const scopes = token.scopes.slice(1).join(" ");
        out.push(`${index + 1}:${token.startIndex + 1}\t${text}\t${scopes}`);
      }
      state = result.ruleStack;
    });
  }
  process.stdout.write(out.join("\n") + "\n");
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
