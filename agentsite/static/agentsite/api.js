/* How the pages call the API (JSON and Server-Sent Events), and how they tell the user that
 * something failed.
 *
 * Every failure ends up as one sentence (errorMessage) in one kind of box (showError), whatever
 * failed: a response the API refused (its `{"success": false, "error": …}` body is read here and
 * nowhere else), a fetch that never got an answer, or an `error` event of a stream or a socket.
 */
(function () {
  "use strict";

  /* A response the API refused: the message of its JSON error body, its status and code. */
  class ApiError extends Error {
    constructor(message, status, code) {
      super(message);
      this.name = "ApiError";
      this.status = status;
      this.code = code || null;
    }
  }

  async function apiError(response) {
    let body = null;
    try { body = await response.json(); } catch (_) { body = null; }
    const message = body && typeof body.error === "string" && body.error;
    return new ApiError(message || "HTTP " + response.status, response.status, body && body.code);
  }

  /* fetch() for the API: the page's cookies, and every POST declared JSON, bodiless ones too
   * (the API's CSRF rule for cookie callers). A refused response is thrown as an ApiError, so
   * the caller only ever sees good ones. */
  async function request(path, options = {}) {
    const headers = { ...(options.headers || {}) };
    if ((options.method || "GET").toUpperCase() === "POST") headers["Content-Type"] = "application/json";
    const response = await fetch(path, { credentials: "same-origin", ...options, headers });
    if (!response.ok) throw await apiError(response);
    return response;
  }

  async function requestJson(path, options) {
    const response = await request(path, options);
    return response.status === 204 ? null : response.json();
  }

  /* The sentence shown for a failure: an Error (an ApiError, or fetch's own when the network
   * failed), an `error` event of a run (SSE or WebSocket frame, `{"type": "error", "message"}`),
   * or a DOM event of a socket that failed. `fallback` when the failure says nothing itself. */
  function errorMessage(failure, fallback = "Something went wrong.") {
    if (failure instanceof Error) return failure.message || fallback;
    if (failure && typeof failure.message === "string" && failure.message) return failure.message;
    if (typeof Event !== "undefined" && failure instanceof Event) return "The connection to the server failed.";
    return fallback;
  }

  /* The one error box: `.error` with role=alert, the message, and a Retry button when there is
   * something to retry (it removes the box first). A container shows one box at a time. */
  function showError(container, message, onRetry) {
    clearErrors(container);
    const box = document.createElement("div");
    box.className = "error";
    box.setAttribute("role", "alert");
    const text = document.createElement("span");
    text.textContent = message;
    box.append(text);
    if (onRetry) {
      const retry = document.createElement("button");
      retry.type = "button";
      retry.textContent = "Retry";
      retry.addEventListener("click", () => { box.remove(); onRetry(); });
      box.append(" ", retry);
    }
    container.append(box);
    return box;
  }

  function clearErrors(container) {
    for (const box of container.querySelectorAll(":scope > .error")) box.remove();
  }

  /* Read a fetch Response body as SSE and call onEvent(object, id) for each data event. */
  async function readSse(response, onEvent) {
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value.replace(/\r\n/g, "\n");
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        let data = null;
        let id = null;
        for (const line of block.split("\n")) {
          if (line.startsWith("data: ")) data = (data === null ? "" : data + "\n") + line.slice(6);
          else if (line.startsWith("id: ")) id = line.slice(4);
        }
        if (data !== null) onEvent(JSON.parse(data), id);
      }
    }
  }

  /* Show the offline banner when the agent's /info says the offline model answers. */
  async function checkOffline(infoUrl) {
    const banner = document.getElementById("offline-banner");
    try {
      const info = await requestJson(infoUrl);
      if (banner) banner.hidden = !info.offline;
      return info;
    } catch (_) {
      return null;
    }
  }

  window.AgentSite = Object.assign(window.AgentSite || {}, {
    ApiError, request, requestJson, readSse, checkOffline, errorMessage, showError, clearErrors,
  });
})();
