/* The chat page: replies streamed over the WebSocket (SSE fallback); the message log is
 * chat-messages.js, the conversation list chat-sidebar.js.
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
  const { readSse, checkOffline, ApiError, request, requestJson, errorMessage } = window.AgentSite;
  const { Messages, Sidebar, Approvals, Branches, Feedback } = window.AgentSiteChat;
  const $ = (id) => document.getElementById(id);
  const PENDING_KEY = "agentsite.pendingRun";
  const CURRENT_KEY = "agentsite.current";

  const app = $("chat-app");
  const input = $("composer-input");
  const picker = $("agent-picker");
  const state = {
    agent: picker.value,
    sessionId: null,
    ws: null,
    wsWanted: false,
    running: null, // {runId, seq, input, text, node, agent, sessionId, viaSocket, agentName, model}
    lastInput: null,
    agentNames: {}, // slug → display name, from /{agent}/info
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

  /* requestJson (api.js), with a JSON body declared as JSON (PATCH too, not only POST). */
  function api(path, options = {}) {
    const headers = { ...(options.headers || {}) };
    if (options.body) headers["Content-Type"] = "application/json";
    return requestJson(path, { ...options, headers });
  }

  function agentName(slug) {
    return state.agentNames[slug] || slug.charAt(0).toUpperCase() + slug.slice(1);
  }

  function setBusy(busy) {
    $("send").disabled = busy;
    $("stop").hidden = !busy;
    $("regenerate").hidden = busy || !state.lastInput;
    app.dataset.busy = busy ? "true" : "false";
  }

  // ---- conversations ---------------------------------------------------------------------

  async function openConversation(sessionId, agent) {
    if (state.running) return;
    if (agent && agent !== state.agent) useAgent(agent);
    state.sessionId = sessionId;
    state.lastInput = null;
    storage.set(CURRENT_KEY, { agent: state.agent, sessionId });
    Sidebar.markCurrent(sessionId, state.agent);
    try {
      const data = await api(`/${state.agent}/session/${encodeURIComponent(sessionId)}`);
      state.lastInput = Messages.renderHistory(
        data.messages, data.item_times || [], data.runs || [], agentName(state.agent));
      Branches.decorate(data, branchActions);
      Feedback.decorateHistory($("messages"), data, state.agent, sessionId);
    } catch (error) {
      Messages.clear();
      Messages.addError(null, "Could not load the conversation: " + errorMessage(error),
        () => openConversation(sessionId));
    }
    setBusy(Boolean(state.running));
    input.focus();
  }

  function newConversation() {
    if (state.running) return;
    state.sessionId = null;
    state.lastInput = null;
    storage.drop(CURRENT_KEY);
    Messages.clear();
    Sidebar.markCurrent(null, null);
    setBusy(false);
    input.focus();
  }

  /* Talk to another agent: its socket, its name in the header; the open conversation stays. */
  function useAgent(agent) {
    state.agent = agent;
    picker.value = agent;
    state.wsWanted = false;
    if (state.ws) state.ws.close();
    connectSocket();
    $("active-agent").textContent = agentName(agent);
  }

  function switchAgent(agent) {
    if (state.running) { picker.value = state.agent; return; }
    useAgent(agent);
    newConversation();
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
      const body = await api(
        `/${state.agent}/session/${encodeURIComponent(sessionId)}/rewind`, { method: "POST" });
      const text = Messages.itemText(body.input) || state.lastInput;
      const data = await api(`/${state.agent}/session/${encodeURIComponent(sessionId)}`);
      Messages.renderHistory(
        data.messages, data.item_times || [], data.runs || [], agentName(state.agent));
      Branches.decorate(data, branchActions);
      Feedback.decorateHistory($("messages"), data, state.agent, sessionId);
      startRun(text);
    } catch (error) {
      Messages.addError(null, "Could not regenerate: " + errorMessage(error), regenerate);
    }
  }

  // ---- branches (chat-branches.js draws the controls) ------------------------------------

  // Edit and resend: fork the conversation before that message, then send the new text as a
  // normal run on the new branch; once it ends the history is re-read for its ◀ n/m ▶.
  async function editMessage(position, text) {
    if (state.running || !state.sessionId) return;
    const path = `/${state.agent}/session/${encodeURIComponent(state.sessionId)}`;
    try {
      await api(`${path}/fork`, { method: "POST", body: JSON.stringify({ position }) });
      const data = await api(path);
      Messages.renderHistory(
        data.messages, data.item_times || [], data.runs || [], agentName(state.agent));
      Branches.decorate(data, branchActions);
      Feedback.decorateHistory($("messages"), data, state.agent, state.sessionId);
      startRun(text);
      if (state.running) state.running.reloadWhenDone = true;
    } catch (error) {
      Messages.addError(null, "Could not edit the message: " + errorMessage(error));
    }
  }

  async function switchBranch(branch, turn, direction) {
    if (state.running || !state.sessionId) return;
    const sessionId = state.sessionId;
    try {
      await api(`/${state.agent}/session/${encodeURIComponent(sessionId)}/branch`, {
        method: "POST", body: JSON.stringify({ branch }),
      });
    } catch (error) {
      Messages.addError(null, "Could not switch versions: " + errorMessage(error));
      return;
    }
    await openConversation(sessionId);
    Branches.focusSwitcher(turn, direction);
  }

  /* The message just sent has an Edit button once its position is known: re-read the history
   * and put the controls on the messages drawn live. */
  async function refreshBranchControls(sessionId) {
    let data = null;
    try {
      data = await api(`/${state.agent}/session/${encodeURIComponent(sessionId)}`);
    } catch (_) {
      return; // the controls stay as they were; the next load draws them
    }
    if (!state.running && state.sessionId === sessionId) Branches.decorate(data, branchActions);
  }

  const branchActions = {
    edit: editMessage, switchTo: switchBranch, busy: () => Boolean(state.running),
  };

  function startRun(text) {
    if (state.running || !text.trim()) return;
    if (!state.sessionId) {
      state.sessionId = newSessionId();
      storage.set(CURRENT_KEY, { agent: state.agent, sessionId: state.sessionId });
      const now = new Date().toISOString();
      Sidebar.upsert({
        session_id: state.sessionId, agent: state.agent, title: text.trim().slice(0, 200),
        created_at: now, updated_at: now,
      });
    }
    state.lastInput = text;
    Messages.addMessage("user", text);
    Messages.scrollDown(true);
    const node = Messages.addMessage("assistant", "", agentName(state.agent));
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
      if (event.type === "error") Messages.addError(null, errorMessage(event, "The server reported an error."));
      return;
    }
    if (event.run_id && event.seq) {
      if (run.runId && event.run_id !== run.runId) return;
      run.runId = event.run_id;
      if (event.seq <= run.seq) return; // already seen (a resume replays from a point)
      run.seq = event.seq;
      savePending();
    }
    handleRunEvent(run, event);
  }

  function handleRunEvent(run, event) {
    const node = run.node;
    switch (event.type) {
      case "agent_updated":
        run.agentName = event.agent_name;
        run.model = event.model;
        Messages.setSpeaker(node, event.agent_name);
        $("active-agent").textContent = event.agent_name;
        break;
      case "raw_response":
        if (event.event_type === "response.output_text.delta") {
          run.text += event.delta;
          Messages.scheduleText(node, run.text);
        }
        break;
      case "run_item":
        if (event.name === "tool_called" && !String(event.tool_name).startsWith("transfer_to_")) {
          Messages.addStatus(node, Messages.describeCall(event.tool_name, event.tool_arguments), "tool");
        } else if (event.name === "tool_output" && !String(event.tool_name).startsWith("transfer_to_")) {
          Messages.addStatus(node, "→ " + String(event.output).slice(0, 200), "tool");
        } else if (event.name === "handoff_occured") {
          Messages.addStatus(node, "↪ handed off to " + event.target_agent, "handoff");
        }
        break;
      case "stream_complete":
        if (!run.text && typeof event.final_output === "string") Messages.setText(node, event.final_output);
        Messages.setUsage(node, run.model, event.usage);
        Feedback.afterReply(node, run.agent, run.sessionId);
        finishRun();
        break;
      case "run_cancelled":
        Messages.addStatus(node, "Stopped.", "stopped");
        Messages.setUsage(node, run.model, event.usage);
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
        Messages.addError(node, errorMessage(event, "The run failed."), () => startRun(retryInput));
        break;
      }
      default:
        break;
    }
  }

  // ---- approvals -------------------------------------------------------------------------

  function addApprovalCard(run, approval) {
    Approvals.addCard(run.node, approval, (decision) => sendDecision(run, decision));
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
    Messages.flushText(run.node);
    run.node.classList.remove("streaming");
    state.running = null;
    storage.drop(PENDING_KEY);
    setBusy(false);
    Sidebar.load();
    if (run.sessionId !== state.sessionId) return;
    if (run.reloadWhenDone) openConversation(run.sessionId);
    else refreshBranchControls(run.sessionId);
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
      const status = await api(`/${run.agent}/runs/${run.runId}/cancel?mode=immediate`, { method: "POST" });
      // The stream normally ends with run_cancelled; if it already ended, nothing more comes.
      setTimeout(() => {
        if (state.running === run && status && status.status && status.status !== "running") {
          Messages.addStatus(run.node, "Stopped.", "stopped");
          finishRun();
        }
      }, 3000);
    } catch (error) {
      Messages.addError(run.node, "Could not stop: " + errorMessage(error));
    }
  }

  /* After a reload: reopen this tab's conversation and follow a run that was streaming. */
  async function restore() {
    const current = storage.get(CURRENT_KEY);
    const pending = storage.get(PENDING_KEY);
    const socketReady = waitForSocket();
    if (current && current.agent === state.agent) await openConversation(current.sessionId);
    if (!pending || pending.agent !== state.agent || pending.sessionId !== state.sessionId) {
      storage.drop(PENDING_KEY);
      return;
    }
    let ledger = null;
    try { ledger = await api(`/${pending.agent}/runs/${pending.runId}`); } catch (_) { ledger = null; }
    if (ledger && ledger.status === "awaiting_approval") {
      // Paused on a tool call: the cards come back, the decision resumes the run.
      await socketReady;
      Messages.dropAfterLastUser();
      const node = Messages.addMessage("assistant", "", agentName(pending.agent));
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
    Messages.dropAfterLastUser();
    const node = Messages.addMessage("assistant", "", agentName(pending.agent));
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

  async function loadAgentNames() {
    const slugs = (app.dataset.agents || "").split(",").filter(Boolean);
    const infos = await Promise.all(slugs.map((slug) => checkOffline(`/${slug}/info`)));
    infos.forEach((info, i) => { if (info && info.agent_name) state.agentNames[slugs[i]] = info.agent_name; });
    if (!state.running) $("active-agent").textContent = agentName(state.agent);
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
  // Escape stops a reply (as in ChatGPT); with none running it closes the phone's sidebar.
  document.addEventListener("keydown", (event) => {
    if (event.key !== "Escape" || event.defaultPrevented) return;
    if (state.running) { event.preventDefault(); stopRun(); } else if (Sidebar.isOpen()) Sidebar.setOpen(false);
  });
  for (const example of document.querySelectorAll("#empty-state [data-prompt]")) {
    example.addEventListener("click", () => {
      if (state.running) return;
      const agent = example.dataset.agent;
      if ([...picker.options].some((o) => o.value === agent) && agent !== state.agent) switchAgent(agent);
      const send = () => startRun(example.dataset.prompt);
      if (socketOpen()) send(); else waitForSocket().then(send);
    });
  }
  $("stop").addEventListener("click", stopRun);
  $("regenerate").addEventListener("click", regenerate);
  $("new-chat").addEventListener("click", () => { Sidebar.closeOnPhone(); newConversation(); });
  picker.addEventListener("change", () => switchAgent(picker.value));
  window.addEventListener("pagehide", () => { state.wsWanted = false; });

  Sidebar.init({
    api,
    current: () => (state.sessionId ? { sessionId: state.sessionId, agent: state.agent } : null),
    open: (sessionId, agent) => openConversation(sessionId, agent),
    deleted: (sessionId, agent) => {
      if (sessionId === state.sessionId && agent === state.agent) newConversation();
    },
  });
  const saved = storage.get(CURRENT_KEY);
  if (saved && [...picker.options].some((o) => o.value === saved.agent)) {
    picker.value = saved.agent;
    state.agent = saved.agent;
  }
  connectSocket();
  Sidebar.load();
  setBusy(false);
  Messages.updateEmptyState();
  loadAgentNames()
    .then(restore)
    .finally(() => { app.dataset.ready = "true"; });
})();
