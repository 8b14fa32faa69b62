// Reads one SSE stream with @microsoft/fetch-event-source and prints every message it hands
// to the application, as JSON, so a Python test can compare them with what the server sent.
//
// usage: node fetch_event_source.mjs URL [HEADERS_JSON] [METHOD] [BODY]
// Stops at the run's last event (stream_complete, error, run_cancelled) or when the server
// closes the stream; never retries (a retry would hide a framing error).
//
// The library is written for browsers: its CommonJS build (the ESM one imports paths Node
// cannot resolve) reads `window.fetch`, `window.setTimeout` and `document`'s visibility events,
// so the two globals are pointed at Node's own equivalents below.
import { createRequire } from "node:module";

globalThis.window = globalThis;
globalThis.document = { hidden: false, addEventListener() {}, removeEventListener() {} };
const require = createRequire(import.meta.url);
const { fetchEventSource } = require("@microsoft/fetch-event-source");

const TERMINAL = new Set(["stream_complete", "error", "run_cancelled"]);
const [url, headersJson = "{}", method = "GET", body] = process.argv.slice(2);
const messages = [];
const controller = new AbortController();

await fetchEventSource(url, {
  method,
  body,
  headers: JSON.parse(headersJson),
  signal: controller.signal,
  openWhenHidden: true,
  async onopen(response) {
    if (response.status !== 200) throw new Error(`HTTP ${response.status}`);
  },
  onmessage(message) {
    messages.push({ id: message.id, event: message.event, data: message.data });
    let parsed = null;
    try {
      parsed = JSON.parse(message.data);
    } catch {
      return; // kept as received: the test fails on it
    }
    if (TERMINAL.has(parsed.type)) controller.abort();
  },
  onerror(error) {
    throw error;
  },
});
process.stdout.write(JSON.stringify(messages));
