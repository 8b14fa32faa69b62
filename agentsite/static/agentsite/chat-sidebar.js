/* The chat page's sidebar: one list of the visitor's conversations with every agent, newest
 * first, searched on the server, renamed in place, deleted with a few seconds to undo; the
 * offer to bring a browser's conversations into the account after logging in; and, on a
 * phone, the sidebar itself opening over the conversation and closing again.
 */
(function () {
  "use strict";
  const $ = (id) => document.getElementById(id);
  const app = $("chat-app");
  const list = $("conversation-list");
  const empty = $("conversation-empty");
  const search = $("conversation-search");
  const toast = $("toast");
  const UNDO_MS = 6000;
  const CLAIM_DISMISSED_KEY = "agentsite.claimDismissed";
  let handlers = { open() {}, deleted() {}, api: null, current: () => null };
  let searchTimer = null;
  let pendingDelete = null; // {row, timer}

  function dateLabel(iso) {
    const date = new Date(iso);
    if (date.toDateString() === new Date().toDateString()) {
      return date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
    }
    const sameYear = date.getFullYear() === new Date().getFullYear();
    return date.toLocaleDateString([], sameYear ? { month: "short", day: "numeric" }
      : { year: "numeric", month: "short", day: "numeric" });
  }

  function entry(row) {
    const item = document.createElement("li");
    item.dataset.sessionId = row.session_id;
    item.dataset.agent = row.agent;
    const current = handlers.current();
    if (current && current.sessionId === row.session_id && current.agent === row.agent) {
      item.setAttribute("aria-current", "true");
    }
    const open = document.createElement("button");
    open.type = "button";
    open.className = "open";
    const title = document.createElement("span");
    title.className = "title";
    title.textContent = row.title || row.session_id;
    const details = document.createElement("span");
    details.className = "details";
    const agent = document.createElement("span");
    agent.className = "agent-badge";
    agent.textContent = row.agent;
    const when = document.createElement("time");
    when.dateTime = row.updated_at;
    when.textContent = dateLabel(row.updated_at);
    details.append(agent, when);
    open.append(title, details);
    open.title = (row.title || row.session_id) + " — " + new Date(row.updated_at).toLocaleString();
    open.addEventListener("click", () => { closeOnPhone(); handlers.open(row.session_id, row.agent); });
    const rename = iconButton("rename", "✎", "Rename conversation " + (row.title || row.session_id));
    rename.addEventListener("click", () => startRename(item, row));
    const remove = iconButton("delete", "×", "Delete conversation " + (row.title || row.session_id));
    remove.addEventListener("click", () => deleteWithUndo(item, row));
    item.append(open, rename, remove);
    return item;
  }

  function iconButton(kind, text, label) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "icon " + kind;
    button.textContent = text;
    button.setAttribute("aria-label", label);
    button.title = label.split(" ").slice(0, 2).join(" ");
    return button;
  }

  async function load() {
    const query = search.value.trim();
    const url = "/conversations?page_size=100" + (query ? "&q=" + encodeURIComponent(query) : "");
    try {
      const data = await handlers.api(url);
      if (search.value.trim() !== query) return; // a newer search is on its way
      const rows = data.sessions.filter((row) => !isPendingDelete(row));
      list.replaceChildren(...rows.map(entry));
      empty.hidden = rows.length > 0;
      empty.textContent = query ? "No conversation matches “" + query + "”." : "No conversations yet.";
    } catch (error) {
      empty.hidden = false;
      empty.textContent = "Could not load conversations: " + AgentSite.errorMessage(error);
    }
  }

  /* A conversation that has just started: listed at once, before its reply is written. */
  function upsert(row) {
    const existing = [...list.children].find((li) => li.dataset.sessionId === row.session_id && li.dataset.agent === row.agent);
    if (existing) existing.remove();
    list.prepend(entry(row));
    empty.hidden = true;
  }

  function markCurrent(sessionId, agent) {
    for (const li of list.children) {
      li.toggleAttribute("aria-current", li.dataset.sessionId === sessionId && li.dataset.agent === agent);
    }
  }

  function startRename(item, row) {
    const open = item.querySelector(".open");
    const field = document.createElement("input");
    field.type = "text";
    field.className = "rename-field";
    field.maxLength = 200;
    field.value = row.title || "";
    field.setAttribute("aria-label", "New title");
    open.replaceWith(field);
    field.focus();
    field.select();
    let done = false;
    const finish = async (save) => {
      if (done) return;
      done = true;
      const title = field.value.trim();
      if (save && title && title !== row.title) {
        try {
          await handlers.api(`/${row.agent}/session/${encodeURIComponent(row.session_id)}`,
            { method: "PATCH", body: JSON.stringify({ title }) });
          row.title = title;
        } catch (error) {
          showToast("Could not rename: " + AgentSite.errorMessage(error));
        }
      }
      const fresh = entry(row);
      item.replaceWith(fresh);
      fresh.querySelector(".open").focus();
    };
    field.addEventListener("keydown", (event) => {
      if (event.key === "Enter") { event.preventDefault(); finish(true); }
      if (event.key === "Escape") { event.preventDefault(); event.stopPropagation(); finish(false); }
    });
    field.addEventListener("blur", () => finish(true));
  }

  function isPendingDelete(row) {
    return pendingDelete && pendingDelete.row.session_id === row.session_id && pendingDelete.row.agent === row.agent;
  }

  /* Hidden at once, deleted on the server only when the undo window has passed. */
  function deleteWithUndo(item, row) {
    flushDelete();
    item.remove();
    empty.hidden = list.childElementCount > 0;
    handlers.deleted(row.session_id, row.agent);
    pendingDelete = { row, timer: setTimeout(flushDelete, UNDO_MS) };
    showToast("Deleted “" + (row.title || row.session_id) + "”.", () => {
      clearTimeout(pendingDelete.timer);
      pendingDelete = null;
      load();
    });
  }

  function flushDelete(keepalive) {
    if (!pendingDelete) return;
    const { row, timer } = pendingDelete;
    clearTimeout(timer);
    pendingDelete = null;
    hideToast();
    handlers.api(`/${row.agent}/session/${encodeURIComponent(row.session_id)}`,
      { method: "DELETE", keepalive: Boolean(keepalive) })
      .catch((error) => { showToast("Could not delete: " + AgentSite.errorMessage(error)); load(); });
  }

  function showToast(text, onUndo) {
    $("toast-text").textContent = text;
    $("toast-undo").hidden = !onUndo;
    $("toast-undo").onclick = onUndo ? () => { hideToast(); onUndo(); } : null;
    toast.hidden = false;
    if (!onUndo) setTimeout(hideToast, UNDO_MS);
  }

  function hideToast() { toast.hidden = true; }

  async function offerClaim() {
    if (app.dataset.authenticated !== "true" || localStorage.getItem(CLAIM_DISMISSED_KEY)) return;
    let count = 0;
    try { count = (await handlers.api("/conversations/claimable")).count; } catch (_) { return; }
    if (!count) return;
    $("claim-text").textContent = count === 1
      ? "This browser has 1 conversation from before you logged in."
      : `This browser has ${count} conversations from before you logged in.`;
    $("claim-offer").hidden = false;
  }

  async function claim() {
    try {
      const result = await handlers.api("/conversations/claim", { method: "POST" });
      $("claim-offer").hidden = true;
      showToast(`Added ${result.count} conversation${result.count === 1 ? "" : "s"} to your account.`);
      load();
    } catch (error) {
      showToast("Could not add them: " + AgentSite.errorMessage(error));
    }
  }

  function setOpen(open) {
    app.dataset.sidebar = open ? "open" : "closed";
    $("sidebar-toggle").setAttribute("aria-expanded", String(open));
    if (open) search.focus();
  }

  function closeOnPhone() {
    if (app.dataset.sidebar === "open") setOpen(false);
  }

  function init(options) {
    handlers = options;
    search.addEventListener("input", () => {
      clearTimeout(searchTimer);
      searchTimer = setTimeout(load, 250);
    });
    $("sidebar-toggle").addEventListener("click", () => setOpen(app.dataset.sidebar !== "open"));
    $("claim-yes").addEventListener("click", claim);
    $("claim-no").addEventListener("click", () => {
      localStorage.setItem(CLAIM_DISMISSED_KEY, "1");
      $("claim-offer").hidden = true;
    });
    window.addEventListener("pagehide", () => flushDelete(true));
    offerClaim();
  }

  window.AgentSiteChat = Object.assign(window.AgentSiteChat || {}, {
    Sidebar: { init, load, upsert, markCurrent, closeOnPhone, showToast, isOpen: () => app.dataset.sidebar === "open", setOpen },
  });
})();
