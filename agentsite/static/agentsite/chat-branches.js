/* Branches on the chat page: an Edit button on each of the user's messages, the message edited
 * in place, and ◀ n/m ▶ on a message that has other versions.
 *
 * Sending an edit forks the conversation before that message (POST …/fork) and sends the new
 * text as a normal run on the new branch; ◀ ▶ make another version's branch the active one
 * (POST …/branch). chat.js does the requests; this file only builds the controls on a history
 * that Messages.renderHistory drew, from the history's item_positions and forks.
 */
(function () {
  "use strict";

  /* The positions of the history's user messages, in order: renderHistory draws one
   * `.message.user` for each item with role "user". */
  function userPositions(data) {
    const positions = [];
    (data.messages || []).forEach((item, index) => {
      if (item.role === "user") positions.push((data.item_positions || [])[index]);
    });
    return positions;
  }

  function button(className, text, label) {
    const node = document.createElement("button");
    node.type = "button";
    node.className = className;
    node.textContent = text;
    node.setAttribute("aria-label", label);
    return node;
  }

  /* actions: {edit(position, text), switchTo(branch, turn, direction), busy()}. The history's
   * user messages are matched to the page's from the newest back, so messages drawn live after
   * an older page of history get theirs too. */
  function decorate(data, actions) {
    const forks = new Map((data.forks || []).map((fork) => [fork.position, fork]));
    const positions = userPositions(data);
    const nodes = [...document.querySelectorAll("#messages .message.user")];
    const offset = positions.length - nodes.length;
    nodes.forEach((node, index) => {
      for (const old of node.querySelectorAll(".message-meta .edit, .branch-switch")) old.remove();
      const position = positions[index + offset];
      if (position == null) return;
      node.dataset.position = String(position);
      const meta = node.querySelector(".message-meta");
      const edit = button("edit", "Edit", "Edit this message and resend it");
      edit.addEventListener("click", () => { if (!actions.busy()) openEditor(node, position, actions); });
      meta.append(edit);
      const fork = forks.get(position);
      if (fork) meta.append(switcher(fork, actions));
    });
  }

  function switcher(fork, actions) {
    const group = document.createElement("div");
    group.className = "branch-switch";
    group.setAttribute("role", "group");
    group.setAttribute(
      "aria-label", `Versions of this message: version ${fork.index} of ${fork.branches.length}`);
    group.dataset.turn = String(fork.turn);
    const previous = button("previous", "◀", "Previous version");
    const next = button("next", "▶", "Next version");
    const count = document.createElement("span");
    count.className = "branch-count";
    count.textContent = `${fork.index}/${fork.branches.length}`;
    previous.disabled = fork.index <= 1;
    next.disabled = fork.index >= fork.branches.length;
    previous.addEventListener("click", () => {
      if (!actions.busy()) actions.switchTo(fork.branches[fork.index - 2], fork.turn, "previous");
    });
    next.addEventListener("click", () => {
      if (!actions.busy()) actions.switchTo(fork.branches[fork.index], fork.turn, "next");
    });
    group.append(previous, count, next);
    return group;
  }

  /* The message's text in a box in its place: Send (or Enter) forks and resends, Cancel (or
   * Escape) puts the message back as it was. */
  function openEditor(node, position, actions) {
    if (node.querySelector(".edit-box")) return;
    const body = node.querySelector(".markdown");
    const meta = node.querySelector(".message-meta");
    const box = document.createElement("form");
    box.className = "edit-box";
    const area = document.createElement("textarea");
    area.value = body.dataset.text || body.textContent;
    area.rows = Math.min(8, Math.max(2, area.value.split("\n").length));
    area.setAttribute("aria-label", "Edit your message");
    const send = button("primary", "Send", "Send the edited message");
    send.type = "submit";
    const cancel = button("cancel", "Cancel", "Cancel editing");
    const row = document.createElement("div");
    row.className = "row";
    row.append(send, cancel);
    box.append(area, row);
    const close = () => {
      box.remove();
      body.hidden = false;
      meta.hidden = false;
      meta.querySelector(".edit").focus();
    };
    box.addEventListener("submit", (event) => {
      event.preventDefault();
      if (!area.value.trim() || actions.busy()) return;
      actions.edit(position, area.value);
    });
    cancel.addEventListener("click", close);
    area.addEventListener("keydown", (event) => {
      if (event.key === "Escape") { event.preventDefault(); close(); }
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        box.requestSubmit();
      }
    });
    body.hidden = true;
    meta.hidden = true;
    node.append(box);
    area.focus();
  }

  /* After a switch re-drew the history: focus the same arrow of the same turn (or the other
   * one, when the end of the versions disabled it), so a keyboard user can keep stepping. */
  function focusSwitcher(turn, direction) {
    const group = document.querySelector(`#messages .branch-switch[data-turn="${turn}"]`);
    if (!group) return false;
    const wanted = group.querySelector("." + direction);
    const target = wanted && !wanted.disabled ? wanted : group.querySelector("button:not(:disabled)");
    if (target) target.focus();
    return Boolean(target);
  }

  window.AgentSiteChat = Object.assign(window.AgentSiteChat || {}, {
    Branches: { decorate, focusSwitcher },
  });
})();
