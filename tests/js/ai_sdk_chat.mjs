// Drives agentsite's /{agent}/ui/chat with the AI SDK's own chat client, as useChat does in a
// browser: `AbstractChat` (the class React's `useChat` wraps) with `DefaultChatTransport`,
// and a plain in-memory ChatState in place of React's. Prints what the library handed the
// application (the chat's messages, status and error, every chunk it parsed) as JSON.
//
// usage: node ai_sdk_chat.mjs BASE_URL AGENT SESSION_ID SCENARIO
//   conversation   two turns; the second reply must remember the first
//   ask TEXT       one turn
//   stop TEXT      one turn, stopped (chat.stop(): the fetch is aborted) after 5 text deltas
//   drop TEXT      as stop, with on_disconnect "continue"; then a new chat (a page reload)
//                  resumes the reply with resumeStream()
//   cancel TEXT    one turn, cancelled by the server (POST …/runs/{id}/cancel) mid-reply
//   resume         a new chat that only calls resumeStream()
//   approve TEXT / reject TEXT   one turn whose tool call waits for approval; the chat answers
//                  it (addToolApprovalResponse) and sends again, which resumes the run
//
// Every chunk is also checked against `ai`'s uiMessageChunkSchema for keys it does not name:
// the schema accepts extra keys (looseObject), and zod puts the ones it knows first in its
// output, so the keys after a leading unknown probe key are the extra ones.
import { AbstractChat, DefaultChatTransport, uiMessageChunkSchema } from "ai";

const [base, agent, sessionId, scenario, text] = process.argv.slice(2);
const chunkSchema = uiMessageChunkSchema();
const chunks = [];
const extraKeys = [];

async function checkStrict(chunk) {
  const probed = await chunkSchema.validate({ __probe__: true, ...chunk });
  if (!probed.success) {
    extraKeys.push({ type: chunk.type, invalid: String(probed.error) });
    return;
  }
  const keys = Object.keys(probed.value);
  const extra = keys.slice(keys.indexOf("__probe__") + 1);
  if (extra.length) extraKeys.push({ type: chunk.type, extra });
}

class RecordingTransport extends DefaultChatTransport {
  processResponseStream(stream) {
    return super.processResponseStream(stream).pipeThrough(
      new TransformStream({
        async transform(chunk, controller) {
          chunks.push(chunk);
          await checkStrict(chunk);
          controller.enqueue(chunk);
        },
      }),
    );
  }
}

class MemoryState {
  constructor() {
    this.status = "ready";
    this.error = undefined;
    this.messages = [];
  }
  pushMessage(message) {
    this.messages = this.messages.concat(message);
  }
  popMessage() {
    this.messages = this.messages.slice(0, -1);
  }
  replaceMessage(index, message) {
    this.messages = [...this.messages.slice(0, index), message, ...this.messages.slice(index + 1)];
  }
  snapshot(value) {
    return structuredClone(value);
  }
}

class Chat extends AbstractChat {
  constructor(body = {}) {
    const transport = new RecordingTransport({ api: `${base}/${agent}/ui/chat`, body });
    super({ id: sessionId, transport, state: new MemoryState() });
  }
  get snapshot() {
    return { status: this.status, error: this.error?.message ?? null, messages: this.messages };
  }
}

function textDeltas() {
  return chunks.filter((chunk) => chunk.type === "text-delta").length;
}

async function stopAfterDeltas(chat, count) {
  let sent = false;
  const sending = chat.sendMessage({ text }).finally(() => {
    sent = true;
  });
  while (textDeltas() < count && !sent) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  await chat.stop();
  await sending;
  return chat.snapshot;
}

const result = {};
if (scenario === "conversation") {
  const chat = new Chat();
  await chat.sendMessage({ text: "My favourite colour is teal." });
  await chat.sendMessage({ text: "What did I tell you?" });
  result.chat = chat.snapshot;
} else if (scenario === "ask") {
  const chat = new Chat();
  await chat.sendMessage({ text });
  result.chat = chat.snapshot;
} else if (scenario === "stop") {
  result.chat = await stopAfterDeltas(new Chat(), 5);
} else if (scenario === "drop") {
  result.dropped = await stopAfterDeltas(new Chat({ on_disconnect: "continue" }), 5);
  result.chunksBeforeDrop = chunks.length;
  const reloaded = new Chat();
  await reloaded.resumeStream();
  result.chat = reloaded.snapshot;
} else if (scenario === "cancel") {
  const chat = new Chat();
  const sending = chat.sendMessage({ text });
  while (textDeltas() < 5) await new Promise((resolve) => setTimeout(resolve, 20));
  const runId = chunks[0].messageMetadata.runId;
  const cancelled = await fetch(`${base}/${agent}/runs/${runId}/cancel`, { method: "POST" });
  result.cancelStatus = cancelled.status;
  await sending;
  result.chat = chat.snapshot;
} else if (scenario === "approve" || scenario === "reject") {
  const chat = new Chat();
  await chat.sendMessage({ text });
  result.paused = chat.snapshot;
  const waiting = chat.lastMessage.parts.find((part) => part.state === "approval-requested");
  if (waiting) {
    const approved = scenario === "approve";
    await chat.addToolApprovalResponse({
      id: waiting.approval.id,
      approved,
      reason: approved ? undefined : "not today",
    });
    await chat.sendMessage();
  }
  result.chat = chat.snapshot;
} else if (scenario === "resume") {
  const chat = new Chat();
  await chat.resumeStream();
  result.chat = chat.snapshot;
} else {
  throw new Error(`unknown scenario ${scenario}`);
}
result.chunkTypes = chunks.map((chunk) => chunk.type);
result.chunks = chunks.filter((chunk) => chunk.type !== "text-delta");
result.extraKeys = extraKeys;
process.stdout.write(JSON.stringify(result));
