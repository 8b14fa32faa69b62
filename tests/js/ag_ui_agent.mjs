// Drives agentsite's /{agent}/ag-ui with AG-UI's own client, `HttpAgent` from @ag-ui/client,
// and prints what it handed the application (the agent's messages, the events its subscriber
// saw, the run results) as JSON.
//
// usage: node ag_ui_agent.mjs BASE_URL AGENT THREAD_ID SCENARIO [TEXT]
//   conversation   two runs on one HttpAgent, then a new HttpAgent opening the same thread
//   ask TEXT       one run
//   stop TEXT      one run, aborted (agent.abortRun()) after 5 TEXT_MESSAGE_CONTENT events
//   cancel TEXT    one run, cancelled by the server (POST …/runs/{id}/cancel) mid-reply
//   approve TEXT / reject TEXT   one run that finishes with an interrupt (a tool call waits
//                  for approval); a second run answers it with resume[] and continues
//   drop TEXT      as stop, with forwardedProps.on_disconnect "continue"; then the same
//                  agent runs again with Last-Event-ID and gets the rest of the reply
//
// Every event the server sent is validated against @ag-ui/core's zod schema for its type,
// made strict (no keys the schema does not name). The `fetch` HttpAgent is given reads a copy
// of the response to do that and to keep the last `id:` line, as a resuming client must.
import { HttpAgent } from "@ag-ui/client";
import { EventSchema } from "@ag-ui/core/schemas";
import { randomUUID } from "node:crypto";

const [base, agentName, threadId, scenario, text] = process.argv.slice(2);
const schemas = new Map(EventSchema.options.map((schema) => [schema.shape.type.value, schema]));
const wire = { lastEventId: null, runId: null, invalid: [], types: [] };

function checkEvent(data) {
  const event = JSON.parse(data);
  wire.types.push(event.type);
  const schema = schemas.get(event.type);
  const parsed = schema ? schema.strict().safeParse(event) : { success: false, error: "unknown type" };
  if (!parsed.success) wire.invalid.push({ type: event.type, error: String(parsed.error) });
}

async function readCopy(stream) {
  const decoder = new TextDecoder();
  let buffer = "";
  const reader = stream.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      buffer += decoder.decode(value, { stream: true });
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        for (const line of block.split("\n")) {
          if (line.startsWith("id: ")) wire.lastEventId = line.slice(4);
          if (line.startsWith("data: ")) checkEvent(line.slice(6));
        }
      }
    }
  } catch {
    // the client aborted: the copy ends with it
  }
}

async function recordingFetch(url, init) {
  const response = await fetch(url, init);
  wire.runId = response.headers.get("x-run-id") ?? wire.runId;
  if (!response.body) return response;
  const [forClient, copy] = response.body.tee();
  readCopy(copy);
  return new Response(forClient, { status: response.status, headers: response.headers });
}

function newAgent(forwardedProps) {
  const agent = new HttpAgent({ url: `${base}/${agentName}/ag-ui`, threadId, fetch: recordingFetch });
  agent.forwarded = forwardedProps;
  return agent;
}

const seen = [];
function subscriber(onContent) {
  return {
    onEvent({ event }) {
      seen.push(event);
      if (event.type === "TEXT_MESSAGE_CONTENT" && onContent) onContent(seen);
    },
  };
}

async function run(agent, content, options = {}, onContent) {
  if (content) agent.addMessage({ id: randomUUID(), role: "user", content });
  try {
    const outcome = await agent.runAgent(
      { forwardedProps: agent.forwarded, ...options },
      subscriber(onContent),
    );
    return { result: outcome.result ?? null, newMessages: outcome.newMessages.length };
  } catch (error) {
    return { error: String(error?.message ?? error) };
  }
}

const contents = () => seen.filter((event) => event.type === "TEXT_MESSAGE_CONTENT").length;
const result = {};
if (scenario === "conversation") {
  const agent = newAgent();
  result.first = await run(agent, "My favourite colour is teal.");
  result.second = await run(agent, "What did I tell you?");
  result.messages = agent.messages;
  const reopened = newAgent();
  result.reopened = await run(reopened, "And what else?");
  result.reopenedMessages = reopened.messages;
} else if (scenario === "ask") {
  const agent = newAgent();
  result.run = await run(agent, text);
  result.messages = agent.messages;
} else if (scenario === "stop" || scenario === "drop") {
  const agent = newAgent(scenario === "drop" ? { on_disconnect: "continue" } : undefined);
  const runId = randomUUID();
  result.run = await run(agent, text, { runId }, () => contents() === 5 && agent.abortRun());
  result.dropped = structuredClone(agent.messages);
  result.droppedAt = wire.lastEventId;
  if (scenario === "drop") {
    agent.headers = { "Last-Event-ID": wire.lastEventId };
    result.resumed = await run(agent, null, { runId });
  }
  result.messages = agent.messages;
} else if (scenario === "approve" || scenario === "reject") {
  const agent = newAgent();
  result.run = await run(agent, text);
  const finished = seen.filter((event) => event.type === "RUN_FINISHED").at(-1);
  const interrupts = finished?.outcome?.interrupts ?? [];
  result.interrupts = interrupts;
  const resume = interrupts.map((interrupt) =>
    scenario === "approve"
      ? { interruptId: interrupt.id, status: "resolved", payload: { approved: true } }
      : { interruptId: interrupt.id, status: "cancelled", payload: { reason: "not today" } },
  );
  if (resume.length) result.resumed = await run(agent, null, { resume });
  result.messages = agent.messages;
} else if (scenario === "cancel") {
  const agent = newAgent();
  let cancelling = null;
  const cancel = () => {
    cancelling ??= fetch(`${base}/${agentName}/runs/${wire.runId}/cancel`, { method: "POST" });
  };
  result.run = await run(agent, text, {}, () => contents() === 5 && cancel());
  result.cancelStatus = (await cancelling)?.status ?? null;
  result.messages = agent.messages;
} else {
  throw new Error(`unknown scenario ${scenario}`);
}
result.events = seen.filter((event) => event.type !== "TEXT_MESSAGE_CONTENT");
result.eventTypes = seen.map((event) => event.type);
result.wire = wire;
process.stdout.write(JSON.stringify(result));
