/* The chat page: conversations in a sidebar, replies streamed over the WebSocket (SSE fallback).
 *
 * A tool call that needs approval (approval_requested) shows a card with the tool, its
 * arguments and Approve / Reject (with a reason); the decision goes over the socket (an
 * `approval` frame) or to POST /{agent}/runs/{id}/approvals, and the resumed run streams on.
 *
 * A run started here uses on_disconnect="continue", so it goes on when the page goes away; its
 * id and last seen event number are kept in sessionStorage, and a reloaded page replays the run
 * from the start (`resume` frame, or the SSE resume endpoint) and follows it to its end.
 */
(function () {
  "use strict";
  const {
    renderInto, readSse, checkOffline, ApiError, request, requestJson, errorMessage, showError,
    clearErrors,
  } = window.AgentSite;
  const $ = (id) => document.getElementById(id);
  const PENDING_KEY = "agentsite.pendingRun";
  const CURRENT_KEY = "agentsite.current";
  const TERMINAL = new Set(["stream_complete", "error", "run_cancelled"]);

  const app = $("chat-app");
  const messages = $("messages");
  const input = $("composer-input");
  const picker = $("agent-picker");
  const state = {
    agent: picker.value,
    sessionId: null,
    ws: null,
    wsWanted: false,
    running: null, // {runId, seq, input, text, node, agent, sessionId, viaSocket}
    lastInput: null,
  };

  const storage = {
    get(key) {
      try { return JSON.parse(sessionStorage.getItem(key) || "null"); } catch (_) { return null; }
    },
    set(key, value) { sessionStorage.setItem(key, JSON.stringify(value)); },
    drop(key) { sessionStorage.removeItem(key); },
  };

  function newSessionId() {
    const bytes = new Uint8Array(12);
    crypto.getRandomValues(bytes);
    return "ui-" + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  // ---- rendering -------------------------------------------------------------------------

  function addMessage(role, text) {
    const node = document.createElement("div");
    node.className = "message " + role;
    const label = document.createElement("div");
    label.className = "role";
    label.textContent = role === "user" ? "You" : "Assistant";
    const events = document.createElement("div");
    events.className = "events";
    const body = document.createElement("div");
    body.className = "markdown";
    node.append(label, events, body);
    if (role === "user") body.textContent = text;
    else if (text) renderInto(body, text);
    messages.append(node);
    scrollDown();
    return node;
  }

  function addStatus(node, text, kind) {
    const line = document.createElement("div");
    line.className = "status-line " + (kind || "");
    line.textContent = text;
    node.querySelector(".events").append(line);
    scrollDown();
  }

  function addError(node, text, onRetry) {
    showError(node || messages, text, onRetry);
    scrollDown();
  }

  function scrollDown() {
    messages.scrollTop = messages.scrollHeight;
  }

  function setBusy(busy) {
    $("send").disabled = busy;
    $("stop").hidden = !busy;
    $("regenerate").hidden = busy || !state.lastInput;
    app.dataset.busy = busy ? "true" : "false";
  }

  function itemText(content) {
    if (typeof content === "string") return content;
    if (!Array.isArray(content)) return "";
    return content.map((part) => part.text || part.refusal || "").join("");
  }

  function renderHistory(items) {
    messages.replaceChildren();
    let assistant = null;
    for (const item of items) {
      if (item.role === "user") {
        addMessage("user", itemText(item.content));
        state.lastInput = itemText(item.content);
        assistant = null;
      } else if (item.role === "assistant" || item.type === "message") {
        assistant = assistant || addMessage("assistant", "");
        const body = assistant.querySelector(".markdown");
        const previous = body.dataset.text || "";
        body.dataset.text = previous + (previous ? "\n\n" : "") + itemText(item.content);
        renderInto(body, body.dataset.text);
      } else if (item.type === "function_call") {
        assistant = assistant || addMessage("assistant", "");
        addStatus(assistant, describeCall(item.name, item.arguments), "tool");
      } else if (item.type === "function_call_output") {
        assistant = assistant || addMessage("assistant", "");
        addStatus(assistant, "→ " + String(item.output).slice(0, 200), "tool");
      }
    }
    setBusy(Boolean(state.running));
  }

  function describeCall(name, args) {
    if (String(name).startsWith("transfer_to_")) return "↪ handoff: " + name.slice(12).replace(/_/g, " ");
    return "🔧 " + name + "(" + String(args || "").slice(0, 200) + ")";
  }

  // ---- conversations ---------------------------------------------------------------------

  async function loadSessions() {
    const list = $("conversation-list");
    const sidebar = list.parentElement;
    try {
      const data = await requestJson(`/${state.agent}/sessions?page_size=50`);
      clearErrors(sidebar);
      list.replaceChildren();
      for (const session of data.sessions) list.append(sessionEntry(session));
      $("conversation-empty").hidden = data.sessions.length > 0;
    } catch (error) {
      $("conversation-empty").hidden = true;
      showError(sidebar, "Could not load conversations: " + errorMessage(error), loadSessions);
    }
  }

  function sessionEntry(session) {
    const item = document.createElement("li");
    item.dataset.sessionId = session.session_id;
    if (session.session_id === state.sessionId) item.setAttribute("aria-current", "true");
    const open = document.createElement("button");
    open.type = "button";
    open.className = "open";
    open.textContent = session.title || session.session_id;
    open.title = new Date(session.updated_at).toLocaleString();
    open.addEventListener("click", () => openConversation(session.session_id));
    const remove = document.createElement("button");
    remove.type = "button";
    remove.className = "delete";
    remove.textContent = "×";
    remove.setAttribute("aria-label", "Delete conversation " + (session.title || session.session_id));
    remove.addEventListener("click", () => deleteConversation(session.session_id, session.title));
    item.append(open, remove);
    return item;
  }

  async function openConversation(sessionId) {
    if (state.running) return;
    state.sessionId = sessionId;
    state.lastInput = null;
    storage.set(CURRENT_KEY, { agent: state.agent, sessionId });
    for (const li of $("conversation-list").children) {
      li.toggleAttribute("aria-current", li.dataset.sessionId === sessionId);
    }
    try {
      const data = await requestJson(`/${state.agent}/session/${encodeURIComponent(sessionId)}`);
      renderHistory(data.messages);
    } catch (error) {
      messages.replaceChildren();
      addError(null, "Could not load the conversation: " + errorMessage(error), () => openConversation(sessionId));
    }
    input.focus();
  }

  async function deleteConversation(sessionId, title) {
    if (!window.confirm(`Delete the conversation “${title || sessionId}”?`)) return;
    try {
      await requestJson(`/${state.agent}/session/${encodeURIComponent(sessionId)}`, { method: "DELETE" });
      if (sessionId === state.sessionId) newConversation();
    } catch (error) {
      addError(null, "Could not delete: " + errorMessage(error));
    }
    loadSessions();
  }

  function newConversation() {
    if (state.running) return;
    state.sessionId = null;
    state.lastInput = null;
    storage.drop(CURRENT_KEY);
    messages.replaceChildren();
    for (const li of $("conversation-list").children) li.removeAttribute("aria-current");
    setBusy(false);
    input.focus();
  }

  // ---- transport -------------------------------------------------------------------------

  function connectSocket() {
    state.wsWanted = true;
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const ws = new WebSocket(`${scheme}://${location.host}/ws/${state.agent}/`);
    state.ws = ws;
    ws.addEventListener("open", () => {
      $("connection-state").textContent = "";
      const run = state.running;
      // A run followed over a socket that dropped: pick it up after the last event seen.
      if (run && run.viaSocket && run.runId) {
        ws.send(JSON.stringify({ type: "resume", run_id: run.runId, after: run.seq }));
      }
    });
    ws.addEventListener("message", (message) => {
      if (ws !== state.ws) return;
      handleEvent(JSON.parse(message.data));
    });
    ws.addEventListener("close", () => {
      if (ws !== state.ws || !state.wsWanted) return;
      $("connection-state").textContent = "Reconnecting…";
      setTimeout(() => { if (ws === state.ws && state.wsWanted) connectSocket(); }, 1000);
    });
  }

  function socketOpen() {
    return state.ws && state.ws.readyState === WebSocket.OPEN;
  }

  function savePending() {
    const run = state.running;
    if (!run || !run.runId) return;
    storage.set(PENDING_KEY, {
      agent: run.agent, sessionId: run.sessionId, runId: run.runId, seq: run.seq, input: run.input,
    });
  }

  // Regenerate replaces the last answer: the server drops the last user turn and its answer,
  // then the same question is asked again.
  async function regenerate() {
    if (state.running || !state.lastInput || !state.sessionId) return;
    const sessionId = state.sessionId;
    try {
      const body = await requestJson(
        `/${state.agent}/session/${encodeURIComponent(sessionId)}/rewind`, { method: "POST" });
      const text = itemText(body.input) || state.lastInput;
      const data = await requestJson(`/${state.agent}/session/${encodeURIComponent(sessionId)}`);
      renderHistory(data.messages);
      startRun(text);
    } catch (error) {
      addError(null, "Could not regenerate: " + errorMessage(error), regenerate);
    }
  }

  function startRun(text) {
    if (state.running || !text.trim()) return;
    if (!state.sessionId) {
      state.sessionId = newSessionId();
      storage.set(CURRENT_KEY, { agent: state.agent, sessionId: state.sessionId });
    }
    state.lastInput = text;
    addMessage("user", text);
    const node = addMessage("assistant", "");
    node.classList.add("streaming");
    state.running = {
      runId: null, seq: 0, input: text, text: "", node,
      agent: state.agent, sessionId: state.sessionId, viaSocket: socketOpen(),
    };
    setBusy(true);
    const body = { input: text, session_id: state.sessionId, on_disconnect: "continue" };
    if (state.running.viaSocket) {
      state.ws.send(JSON.stringify({ type: "run", ...body }));
    } else {
      streamOverHttp(`/${state.agent}/stream`, { method: "POST", body: JSON.stringify(body) });
    }
  }

  async function streamOverHttp(path, options) {
    const run = state.running;
    try {
      const response = await request(path, options);
      if (run && response.headers.get("X-Run-Id")) run.runId = response.headers.get("X-Run-Id");
      if ((response.headers.get("Content-Type") || "").startsWith("application/json")) {
        const status = await response.json();
        handleEvent({ ...status, type: "run_status" });
        return;
      }
      await readSse(response, (event, id) => {
        if (id && !event.seq) event.seq = Number(id.split(":").pop());
        if (run && !event.run_id) event.run_id = run.runId;
        handleEvent(event);
      });
    } catch (error) {
      // Refused (409 busy, 422 invalid, …): the run's error, with its retry.
      if (error instanceof ApiError) handleEvent({ type: "error", message: errorMessage(error) });
      else if (state.running === run && run) handleEvent({ type: "error", message: "Connection lost: " + errorMessage(error) });
    }
  }

  function handleEvent(event) {
    const run = state.running;
    if (event.type === "pong") return;
    if (!run) {
      if (event.type === "error") addError(null, errorMessage(event, "The server reported an error."));
      return;
    }
    if (event.run_id && event.seq) {
      if (run.runId && event.run_id !== run.runId) return;
      run.runId = event.run_id;
      if (event.seq <= run.seq) return; // already seen (a resume replays from a point)
      run.seq = event.seq;
      savePending();
    }
    const node = run.node;
    switch (event.type) {
      case "agent_updated":
        if (run.agentName && run.agentName !== event.agent_name) addStatus(node, "Active agent: " + event.agent_name, "handoff");
        run.agentName = event.agent_name;
        $("active-agent").textContent = event.agent_name;
        break;
      case "raw_response":
        if (event.event_type === "response.output_text.delta") {
          run.text += event.delta;
          renderInto(node.querySelector(".markdown"), run.text);
          scrollDown();
        }
        break;
      case "run_item":
        if (event.name === "tool_called") addStatus(node, describeCall(event.tool_name, event.tool_arguments), "tool");
        else if (event.name === "tool_output") addStatus(node, "→ " + String(event.output).slice(0, 200), "tool");
        else if (event.name === "handoff_occured") addStatus(node, "↪ handed off to " + event.target_agent, "handoff");
        break;
      case "stream_complete":
        if (!run.text && typeof event.final_output === "string") renderInto(node.querySelector(".markdown"), event.final_output);
        finishRun();
        break;
      case "run_cancelled":
        addStatus(node, "Stopped.", "stopped");
        finishRun();
        break;
      case "approval_requested":
        addApprovalCard(run, {
          id: event.approval_id, tool_name: event.tool_name, arguments: event.tool_arguments,
        });
        break;
      case "run_status":
        if (event.status === "awaiting_approval") break; // other calls of the run still wait
        if (event.status && event.status !== "running") {
          finishRun();
          if (state.sessionId) openConversation(state.sessionId);
        }
        break;
      case "error": {
        const retryInput = run.input;
        finishRun();
        addError(node, errorMessage(event, "The run failed."), () => startRun(retryInput));
        break;
      }
      default:
        break;
    }
  }

  // ---- approvals -------------------------------------------------------------------------

  function addApprovalCard(run, approval) {
    const card = document.createElement("div");
    card.className = "approval-card";
    card.setAttribute("role", "group");
    card.dataset.approvalId = approval.id;
    const title = document.createElement("div");
    title.className = "approval-title";
    title.textContent = `Approve ${approval.tool_name}?`;
    const args = document.createElement("pre");
    args.className = "approval-arguments";
    try { args.textContent = JSON.stringify(JSON.parse(approval.arguments), null, 2); }
    catch (_) { args.textContent = approval.arguments; }
    const reason = document.createElement("input");
    reason.type = "text";
    reason.className = "approval-reason";
    reason.placeholder = "Reason (told to the assistant if you reject)";
    reason.setAttribute("aria-label", "Reason");
    const approve = document.createElement("button");
    approve.type = "button";
    approve.textContent = "Approve";
    approve.className = "approve";
    const reject = document.createElement("button");
    reject.type = "button";
    reject.textContent = "Reject";
    reject.className = "reject";
    const actions = document.createElement("div");
    actions.className = "approval-actions";
    actions.append(reason, approve, reject);
    card.append(title, args, actions);
    run.node.querySelector(".events").append(card);
    const decide = (yes) => {
      approve.disabled = reject.disabled = reason.disabled = true;
      const why = reason.value.trim();
      const outcome = document.createElement("div");
      outcome.className = "approval-outcome";
      outcome.textContent = yes ? "Approved" : "Rejected" + (why ? `: ${why}` : "");
      actions.replaceWith(outcome);
      sendDecision(run, { id: approval.id, approve: yes, reason: why });
    };
    approve.addEventListener("click", () => decide(true));
    reject.addEventListener("click", () => decide(false));
    scrollDown();
  }

  function sendDecision(run, decision) {
    if (socketOpen()) {
      run.viaSocket = true;
      state.ws.send(JSON.stringify({ type: "approval", run_id: run.runId, decisions: [decision] }));
      return;
    }
    run.viaSocket = false;
    streamOverHttp(`/${run.agent}/runs/${run.runId}/approvals`, {
      method: "POST",
      headers: { Accept: "text/event-stream" },
      body: JSON.stringify({ decisions: [decision] }),
    });
  }

  function finishRun() {
    const run = state.running;
    if (!run) return;
    run.node.classList.remove("streaming");
    state.running = null;
    storage.drop(PENDING_KEY);
    setBusy(false);
    loadSessions();
  }

  async function stopRun() {
    const run = state.running;
    if (!run) return;
    // A paused run's cancel rejects the calls it waits on: their cards take no decision now.
    for (const control of run.node.querySelectorAll(".approval-card button, .approval-card input")) {
      control.disabled = true;
    }
    if (!run.runId) {
      if (socketOpen()) state.ws.send(JSON.stringify({ type: "cancel" }));
      return;
    }
    try {
      const status = await requestJson(`/${run.agent}/runs/${run.runId}/cancel?mode=immediate`, { method: "POST" });
      // The stream normally ends with run_cancelled; if it already ended, nothing more comes.
      setTimeout(() => {
        if (state.running === run && status && status.status && status.status !== "running") {
          addStatus(run.node, "Stopped.", "stopped");
          finishRun();
        }
      }, 3000);
    } catch (error) {
      addError(run.node, "Could not stop: " + errorMessage(error));
    }
  }

  /* After a reload: reopen this tab's conversation and follow a run that was streaming. */
  async function restore() {
    const current = storage.get(CURRENT_KEY);
    const pending = storage.get(PENDING_KEY);
    if (current && current.agent && [...picker.options].some((o) => o.value === current.agent)) {
      picker.value = current.agent;
      state.agent = current.agent;
    }
    const socketReady = waitForSocket();
    if (current && current.agent === state.agent) await openConversation(current.sessionId);
    if (!pending || pending.agent !== state.agent || pending.sessionId !== state.sessionId) {
      storage.drop(PENDING_KEY);
      return;
    }
    let ledger = null;
    try { ledger = await requestJson(`/${pending.agent}/runs/${pending.runId}`); } catch (_) { ledger = null; }
    if (ledger && ledger.status === "awaiting_approval") {
      // Paused on a tool call: the cards come back, the decision resumes the run.
      await socketReady;
      const node = addMessage("assistant", "");
      state.running = {
        runId: pending.runId, seq: ledger.event_count, input: pending.input, text: "", node,
        agent: pending.agent, sessionId: pending.sessionId, viaSocket: socketOpen(),
      };
      setBusy(true);
      for (const approval of ledger.approvals) addApprovalCard(state.running, approval);
      return;
    }
    if (!ledger || ledger.status !== "running") {
      storage.drop(PENDING_KEY);
      if (ledger) await openConversation(pending.sessionId);
      return;
    }
    state.lastInput = pending.input;
    const node = addMessage("assistant", "");
    node.classList.add("streaming");
    await socketReady;
    state.running = {
      runId: pending.runId, seq: 0, input: pending.input, text: "", node,
      agent: pending.agent, sessionId: pending.sessionId, viaSocket: socketOpen(),
    };
    setBusy(true);
    // Replay from the first event: the text streamed before the reload is rebuilt too.
    if (state.running.viaSocket) {
      state.ws.send(JSON.stringify({ type: "resume", run_id: pending.runId, after: 0 }));
    } else {
      streamOverHttp(`/${pending.agent}/runs/${pending.runId}/stream?after=0`, { method: "GET" });
    }
  }

  function waitForSocket(timeoutMs = 3000) {
    return new Promise((resolve) => {
      if (socketOpen()) return resolve(true);
      const ws = state.ws;
      const timer = setTimeout(() => resolve(false), timeoutMs);
      ws.addEventListener("open", () => { clearTimeout(timer); resolve(true); }, { once: true });
      ws.addEventListener("error", () => { clearTimeout(timer); resolve(false); }, { once: true });
    });
  }

  function switchAgent(agent) {
    if (state.running) { picker.value = state.agent; return; }
    state.agent = agent;
    state.wsWanted = false;
    if (state.ws) state.ws.close();
    connectSocket();
    newConversation();
    $("active-agent").textContent = "–";
    loadSessions();
    checkOffline(`/${agent}/info`).then((info) => { if (info) $("active-agent").textContent = info.agent_name; });
  }

  // ---- wiring ----------------------------------------------------------------------------

  $("composer").addEventListener("submit", (event) => {
    event.preventDefault();
    const text = input.value;
    if (!text.trim() || state.running) return;
    input.value = "";
    startRun(text);
  });
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      $("composer").requestSubmit();
    }
  });
  $("stop").addEventListener("click", stopRun);
  $("regenerate").addEventListener("click", regenerate);
  $("new-chat").addEventListener("click", newConversation);
  picker.addEventListener("change", () => switchAgent(picker.value));
  window.addEventListener("pagehide", () => { state.wsWanted = false; });

  const saved = storage.get(CURRENT_KEY);
  if (saved && [...picker.options].some((o) => o.value === saved.agent)) {
    picker.value = saved.agent;
    state.agent = saved.agent;
  }
  connectSocket();
  loadSessions();
  checkOffline(`/${state.agent}/info`).then((info) => { if (info) $("active-agent").textContent = info.agent_name; });
  setBusy(false);
  restore().finally(() => { app.dataset.ready = "true"; });
})();
