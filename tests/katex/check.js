// Reads a JSON list of {tex, display} from stdin; prints a JSON list of errors (empty when all render).
const katex = require("katex");
let input = "";
process.stdin.on("data", (chunk) => (input += chunk));
process.stdin.on("end", () => {
  const errors = [];
  for (const { tex, display } of JSON.parse(input)) {
    try {
      katex.renderToString(tex, { throwOnError: true, displayMode: display, strict: "error" });
    } catch (e) {
      errors.push({ tex, error: String(e.message || e) });
    }
  }
  process.stdout.write(JSON.stringify(errors));
});
