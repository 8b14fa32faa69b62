/* The chat page's feedback on replies: thumbs up / down toggle buttons (aria-pressed) and an optional
 * comment under each assistant reply, stored with PUT / DELETE
 * /{agent}/session/{id}/items/{position}/feedback and shown pressed again after a reload.
 *
 * A reply is rated through its last assistant message item (its position never changes). A
 * stored conversation brings the positions and the caller's ratings with its history
 * (`decorateHistory`); a reply that just streamed learns its position from the history once
 * the run has ended (`afterReply`).
 */
(function () {
  "use strict";
  const { requestJson, errorMessage } = window.AgentSite;
  const COMMENT_MAX = 2000;
  const RATINGS = [
    { rating: "up", label: "Good reply", turn: "" },
    { rating: "down", label: "Bad reply", turn: "rotate(180 12 12)" },
  ];
  const SVG = "http://www.w3.org/2000/svg";
  // A thumb (cuff and hand), drawn for this page; the pressed one is filled (site.css).
  const THUMB = "M2.5 10.5h3.5v10h-3.5z M6 11l4-8c1.4 0 2.5 1.1 2.5 2.5l-.5 3.5h6.6c1.4 0 "
    + "2.4 1.3 2 2.7l-2 7.6c-.3 1-1.1 1.7-2.1 1.7H6z";

  function thumbIcon(turn) {
    const svg = document.createElementNS(SVG, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("aria-hidden", "true");
    svg.setAttribute("focusable", "false");
    const path = document.createElementNS(SVG, "path");
    path.setAttribute("d", THUMB);
    if (turn) path.setAttribute("transform", turn);
    svg.append(path);
    return svg;
  }

  function feedbackUrl(target) {
    return `/${target.agent}/session/${encodeURIComponent(target.sessionId)}/items/${target.position}/feedback`;
  }

  function send(target, method, body) {
    const options = { method };
    if (body) {
      options.headers = { "Content-Type": "application/json" };
      options.body = JSON.stringify(body);
    }
    return requestJson(feedbackUrl(target), options);
  }

  /* The thumbs and comment form of one reply `node`, rating the item at target.position;
   * `saved` is the stored rating ({rating, comment}) or null. Attaching again updates them. */
  function attach(node, target, saved) {
    const meta = node.querySelector(".message-meta");
    if (!meta) return;
    let box = meta.querySelector(".feedback");
    if (!box) {
      box = build(target);
      meta.append(box);
    }
    box.feedbackTarget = target;
    show(box, saved);
  }

  function build(target) {
    const box = document.createElement("span");
    box.className = "feedback";
    box.setAttribute("role", "group");
    box.setAttribute("aria-label", "Feedback on this reply");
    for (const { rating, label, turn } of RATINGS) {
      const button = document.createElement("button");
      button.type = "button";
      button.className = "thumb";
      button.dataset.rating = rating;
      button.append(thumbIcon(turn));
      button.title = label;
      button.setAttribute("aria-label", label);
      button.setAttribute("aria-pressed", "false");
      button.addEventListener("click", () => toggle(box, rating));
      box.append(button);
    }
    const form = document.createElement("form");
    form.className = "feedback-comment";
    form.hidden = true;
    const comment = document.createElement("input");
    comment.type = "text";
    comment.maxLength = COMMENT_MAX;
    comment.placeholder = "Tell us more (optional)";
    comment.setAttribute("aria-label", "Feedback comment (optional)");
    const save = document.createElement("button");
    save.type = "submit";
    save.textContent = "Send";
    form.append(comment, save);
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      saveComment(box, comment.value.trim());
    });
    const status = document.createElement("span");
    status.className = "feedback-status";
    status.setAttribute("role", "status");
    box.append(form, status);
    return box;
  }

  function show(box, saved) {
    box.saved = saved || null;
    for (const button of box.querySelectorAll(".thumb")) {
      button.setAttribute("aria-pressed", String(Boolean(saved) && saved.rating === button.dataset.rating));
    }
    box.querySelector(".feedback-comment input").value = (saved && saved.comment) || "";
    if (!saved) box.querySelector(".feedback-comment").hidden = true;
  }

  function say(box, text) {
    box.querySelector(".feedback-status").textContent = text;
  }

  /* A thumb not pressed rates the reply (and offers the comment); the pressed one takes the
   * rating back. */
  async function toggle(box, rating) {
    const saved = box.saved;
    try {
      if (saved && saved.rating === rating) {
        await send(box.feedbackTarget, "DELETE");
        show(box, null);
        say(box, "Feedback removed.");
        return;
      }
      const body = await send(box.feedbackTarget, "PUT", { rating, comment: (saved && saved.comment) || "" });
      show(box, body.feedback);
      const form = box.querySelector(".feedback-comment");
      form.hidden = false;
      say(box, "Thanks for the feedback.");
      form.querySelector("input").focus();
    } catch (error) {
      say(box, "Could not save the feedback: " + errorMessage(error));
    }
  }

  async function saveComment(box, comment) {
    if (!box.saved) return;
    try {
      const body = await send(box.feedbackTarget, "PUT", { rating: box.saved.rating, comment });
      show(box, body.feedback);
      box.querySelector(".feedback-comment").hidden = true;
      say(box, comment ? "Comment saved." : "Thanks for the feedback.");
    } catch (error) {
      say(box, "Could not save the comment: " + errorMessage(error));
    }
  }

  /* A rendered history (chat-messages.js renderHistory marks each reply with the index of its
   * last assistant message in `data.messages`): thumbs on every reply, pressed as stored. */
  function decorateHistory(container, data, agent, sessionId) {
    const positions = data.item_positions || [];
    const ratings = new Map((data.feedback || []).map((saved) => [saved.position, saved]));
    for (const node of container.querySelectorAll(".message.assistant[data-reply-item]")) {
      const position = positions[Number(node.dataset.replyItem)];
      if (position === undefined) continue;
      attach(node, { agent, sessionId, position }, ratings.get(position) || null);
    }
  }

  /* A reply that has just been stored: the position of the last assistant message after the
   * last user message of the history's newest page, if there is one. */
  async function afterReply(node, agent, sessionId) {
    if (!sessionId) return;
    try {
      const data = await requestJson(`/${agent}/session/${encodeURIComponent(sessionId)}?limit=50`);
      const positions = data.item_positions || [];
      let position = null;
      for (let index = data.messages.length - 1; index >= 0; index--) {
        const item = data.messages[index];
        if (item.role === "user") break;
        if (item.role === "assistant" && position === null) position = positions[index];
      }
      if (position === null || position === undefined) return;
      const saved = (data.feedback || []).find((rating) => rating.position === position) || null;
      attach(node, { agent, sessionId, position }, saved);
    } catch (_) {
      /* No thumbs on this reply until the conversation is opened again: nothing to tell. */
    }
  }

  window.AgentSiteChat = Object.assign(window.AgentSiteChat || {}, {
    Feedback: { attach, decorateHistory, afterReply },
  });
})();
