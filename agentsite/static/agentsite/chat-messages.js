/* The chat page's message log: messages with their speaker, time, model and token usage, tool
 * and handoff status lines, a stored conversation rebuilt from its items, and scrolling that
 * follows a streaming reply only while the reader is at the bottom.
 */
(function () {
  "use strict";
  const { renderInto, showError, errorMessage } = window.AgentSite;
  const $ = (id) => document.getElementById(id);
  const messages = $("messages");
  const jump = $("jump-latest");
  // How close to the bottom (px) still counts as "at the bottom": a reader there is following.
  const FOLLOW_SLACK = 48;
  let following = true;
  const pendingRenders = new Map();

  function atBottom() {
    return messages.scrollHeight - messages.scrollTop - messages.clientHeight <= FOLLOW_SLACK;
  }

  messages.addEventListener("scroll", () => {
    following = atBottom();
    jump.hidden = following;
  }, { passive: true });
  jump.addEventListener("click", () => scrollDown(true));

  /* Keep the newest text in view, unless the reader scrolled up to read something else. */
  function scrollDown(force) {
    if (force) following = true;
    if (following) {
      messages.scrollTop = messages.scrollHeight;
      jump.hidden = true;
    } else {
      jump.hidden = false;
    }
  }

  function updateEmptyState() {
    $("empty-state").hidden = messages.childElementCount > 0;
  }

  function timeLabel(date) {
    const sameDay = date.toDateString() === new Date().toDateString();
    const time = date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
    return sameDay ? time : date.toLocaleDateString([], { month: "short", day: "numeric" }) + ", " + time;
  }

  function addMessage(role, text, speaker) {
    const node = document.createElement("div");
    node.className = "message " + role;
    const label = document.createElement("div");
    label.className = "role";
    label.textContent = role === "user" ? "You" : speaker || "Assistant";
    const events = document.createElement("div");
    events.className = "events";
    const body = document.createElement("div");
    body.className = "markdown";
    const meta = document.createElement("div");
    meta.className = "message-meta";
    const when = document.createElement("time");
    const usage = document.createElement("span");
    usage.className = "usage";
    const copy = document.createElement("button");
    copy.type = "button";
    copy.className = "copy";
    copy.textContent = "Copy";
    copy.setAttribute("aria-label", role === "user" ? "Copy your message" : "Copy reply");
    meta.append(when, usage, copy);
    node.append(label, events, body, meta);
    setText(node, text || "");
    setTime(node, new Date());
    messages.append(node);
    updateEmptyState();
    scrollDown();
    return node;
  }

  function setText(node, text) {
    const body = node.querySelector(".markdown");
    body.dataset.text = text;
    if (node.classList.contains("user")) body.textContent = text;
    else renderInto(body, text);
  }

  /* Streaming re-renders at most once a frame, however fast the deltas come. */
  function scheduleText(node, text) {
    node.querySelector(".markdown").dataset.text = text;
    if (pendingRenders.has(node)) return;
    pendingRenders.set(node, requestAnimationFrame(() => {
      pendingRenders.delete(node);
      renderInto(node.querySelector(".markdown"), node.querySelector(".markdown").dataset.text);
      scrollDown();
    }));
  }

  function flushText(node) {
    if (!pendingRenders.has(node)) return;
    cancelAnimationFrame(pendingRenders.get(node));
    pendingRenders.delete(node);
    renderInto(node.querySelector(".markdown"), node.querySelector(".markdown").dataset.text);
  }

  function setSpeaker(node, name) {
    if (name) node.querySelector(".role").textContent = name;
  }

  function setTime(node, date) {
    const when = node.querySelector(".message-meta time");
    if (!date || isNaN(date)) return;
    when.dateTime = date.toISOString();
    when.textContent = timeLabel(date);
    when.title = date.toLocaleString();
  }

  function setUsage(node, model, usage) {
    const parts = [];
    if (model) parts.push(model);
    if (usage && usage.total_tokens != null) {
      parts.push(`${usage.total_tokens} tokens (${usage.input_tokens} in, ${usage.output_tokens} out)`);
    }
    node.querySelector(".usage").textContent = parts.join(" · ");
  }

  function addStatus(node, text, kind) {
    const line = document.createElement("div");
    line.className = "status-line " + (kind || "");
    line.textContent = text;
    node.querySelector(".events").append(line);
    scrollDown();
  }

  /* The page's one error box (api.js), in the reply or the log; Retry when it can be retried. */
  function addError(node, text, onRetry) {
    showError(node || messages, text, onRetry);
    updateEmptyState();
    scrollDown();
  }

  /* Remove what was rendered after the last user message: a run being replayed from its first
   * event rebuilds it, and would otherwise show its tool calls twice. */
  function dropAfterLastUser() {
    const users = messages.querySelectorAll(".message.user");
    const last = users[users.length - 1];
    if (!last) return;
    while (last.nextElementSibling) last.nextElementSibling.remove();
  }

  function clear() {
    messages.replaceChildren();
    following = true;
    jump.hidden = true;
    updateEmptyState();
  }

  function itemText(content) {
    if (typeof content === "string") return content;
    if (!Array.isArray(content)) return "";
    return content.map((part) => part.text || part.refusal || "").join("");
  }

  function describeCall(name, args) {
    return "🔧 " + name + "(" + String(args || "").slice(0, 200) + ")";
  }

  /* The agent a handoff went to, from the handoff's tool output ({"assistant": "<name>"}). */
  function handoffTarget(output, callName) {
    try {
      const parsed = JSON.parse(output);
      if (parsed && typeof parsed.assistant === "string") return parsed.assistant;
    } catch (_) { /* not JSON: fall back to the tool's name */ }
    return String(callName).slice("transfer_to_".length).replace(/_/g, " ");
  }

  /* The run that produced a reply: the one running when its first item was stored. */
  function runAt(runs, time) {
    if (!time) return null;
    let found = null;
    for (const run of runs) if (run.started_at <= time) found = run;
    return found;
  }

  /* A stored conversation as the live stream showed it: each run starts with the
   * conversation's agent; a handoff's output names the agent that answers from then on. */
  function renderHistory(items, times, runs, agentName) {
    clear();
    let reply = null;
    let speaker = agentName;
    let lastUser = null;
    const handoffCalls = new Map();
    const startReply = (index) => {
      if (reply) return reply;
      reply = addMessage("assistant", "", speaker);
      if (times[index]) setTime(reply, new Date(times[index]));
      const run = runAt(runs, times[index]);
      if (run) setUsage(reply, run.model, run.usage);
      return reply;
    };
    items.forEach((item, index) => {
      if (item.role === "user") {
        const node = addMessage("user", itemText(item.content));
        if (times[index]) setTime(node, new Date(times[index]));
        lastUser = itemText(item.content);
        reply = null;
        speaker = agentName;
      } else if (item.role === "assistant" || item.type === "message") {
        const node = startReply(index);
        node.dataset.replyItem = index; // its last assistant message: what feedback rates
        const previous = node.querySelector(".markdown").dataset.text || "";
        setSpeaker(node, speaker);
        setText(node, previous + (previous ? "\n\n" : "") + itemText(item.content));
      } else if (item.type === "function_call") {
        if (String(item.name).startsWith("transfer_to_")) handoffCalls.set(item.call_id, item.name);
        else addStatus(startReply(index), describeCall(item.name, item.arguments), "tool");
      } else if (item.type === "function_call_output") {
        if (handoffCalls.has(item.call_id)) {
          speaker = handoffTarget(item.output, handoffCalls.get(item.call_id));
          addStatus(startReply(index), "↪ handed off to " + speaker, "handoff");
        } else {
          addStatus(startReply(index), "→ " + String(item.output).slice(0, 200), "tool");
        }
      }
    });
    scrollDown(true);
    return lastUser;
  }

  window.AgentSiteChat = Object.assign(window.AgentSiteChat || {}, {
    Messages: {
      addMessage, addStatus, addError, setText, scheduleText, flushText, setSpeaker, setTime,
      setUsage, scrollDown, clear, dropAfterLastUser, renderHistory, itemText, describeCall, updateEmptyState,
    },
  });
})();
