/* The research page: start a research run over SSE (fetch streaming), show its progress, render
 * the report with the shared safe Markdown renderer, list the visitor's past reports (status,
 * date, delete with undo).
 *
 * Progress is shown at a readable pace: the offline model (and a fast knowledge base) can
 * finish every search within a few milliseconds, which would flash the plan by unseen, so
 * each progress step stays on screen at least STEP_MS before the next one is drawn. */
(function () {
  "use strict";
  const {
    renderInto, readSse, checkOffline, request, requestJson, errorMessage, showError, clearErrors,
  } = window.AgentSite;
  const $ = (id) => document.getElementById(id);
  const app = $("research-app");
  const query = $("research-query");
  const STEP_MS = 350;
  const UNDO_MS = 6000;
  let controller = null;
  let shown = Promise.resolve();
  let pendingDelete = null; // {id, timer}

  /* Run ``draw`` after the steps before it, and keep it on screen STEP_MS. */
  function paced(draw) {
    shown = shown.then(() => {
      draw();
      return new Promise((resolve) => setTimeout(resolve, STEP_MS));
    });
    return shown;
  }

  function show(id, visible) { $(id).hidden = !visible; }

  function setBusy(busy) {
    $("research-start").disabled = busy;
    show("research-stop", busy);
    app.dataset.busy = busy ? "true" : "false";
  }

  function resetView() {
    $("research-progress").dataset.state = "running";
    $("research-plan").replaceChildren();
    $("research-bar").value = 0;
    $("research-bar").max = 1;
    $("research-count").textContent = "";
    $("research-stage").textContent = "";
    clearErrors($("research-errors"));
    show("research-report", false);
  }

  function showFailure(message, retryQuery) {
    // A failed run's bar must not read "finished": the progress panel keeps only the plan,
    // with each search's outcome, under a stage line that says it failed.
    $("research-progress").dataset.state = "failed";
    if (!$("research-progress").hidden) $("research-stage").textContent = "The research did not produce a report.";
    showError($("research-errors"), message, retryQuery ? () => start(retryQuery) : null);
  }

  function onProgress(event) {
    $("research-stage").textContent = event.message;
    const bar = $("research-bar");
    if (event.stage === "planned") {
      bar.max = Math.max(event.total, 1);
      $("research-count").textContent = `0/${event.total} searches`;
      const plan = $("research-plan");
      plan.replaceChildren();
      for (const search of event.searches || []) {
        const li = document.createElement("li");
        li.textContent = search.query;
        plan.append(li);
      }
    } else if (event.stage === "search_finished") {
      bar.max = Math.max(event.total, 1);
      bar.value = event.completed;
      $("research-count").textContent = `${event.completed}/${event.total} searches`;
      const li = $("research-plan").children[event.index - 1];
      if (li) li.dataset.status = event.status;
    } else if (event.stage === "search_started") {
      const li = $("research-plan").children[event.index - 1];
      if (li && !li.dataset.status) li.dataset.status = "running";
    }
  }

  function renderReport(report) {
    renderInto($("report-body"), report.markdown_report || "");
    const sources = $("report-sources");
    sources.replaceChildren();
    for (const source of report.sources || []) {
      const li = document.createElement("li");
      li.value = source.number;
      if (/^https?:\/\//i.test(source.url || "")) {
        const link = document.createElement("a");
        link.href = source.url;
        link.rel = "noopener noreferrer nofollow";
        link.target = "_blank";
        link.textContent = source.title || source.url;
        li.append(link);
      } else {
        li.textContent = source.title + (source.url ? " — " + source.url : "");
      }
      sources.append(li);
    }
    const followups = $("report-followups");
    followups.replaceChildren();
    for (const question of report.follow_up_questions || []) {
      const li = document.createElement("li");
      const button = document.createElement("button");
      button.type = "button";
      button.className = "link";
      button.textContent = question;
      button.addEventListener("click", () => { query.value = question; start(question); });
      li.append(button);
      followups.append(li);
    }
    show("research-report", true);
  }

  async function start(text) {
    if (controller || !text.trim()) return;
    resetView();
    show("research-progress", true);
    $("research-stage").textContent = "Starting…";
    setBusy(true);
    controller = new AbortController();
    let finished = false;
    try {
      const response = await request("/research/stream", {
        method: "POST",
        body: JSON.stringify({ query: text }),
        signal: controller.signal,
      });
      shown = Promise.resolve();
      await readSse(response, (event) => {
        if (event.type === "research_progress") paced(() => onProgress(event));
        else if (event.type === "report") {
          paced(() => {
            $("research-stage").textContent = "Report ready.";
            $("research-progress").dataset.state = "completed";
            renderReport(event);
          });
        } else if (event.type === "stream_complete") finished = true;
        else if (event.type === "run_cancelled") {
          finished = true;
          showError(event.message || "The research was cancelled.", text);
        } else if (event.type === "error") {
          finished = true;
          paced(() => showFailure(errorMessage(event, "The research failed."), text));
        }
      });
      await shown;
      if (!finished) showFailure("The connection ended before the research finished.", text);
    } catch (error) {
      if (error.name === "AbortError") $("research-stage").textContent = "Stopped.";
      else showFailure(errorMessage(error), text);
    } finally {
      controller = null;
      setBusy(false);
      loadReports();
    }
  }

  function dateLabel(iso) {
    const date = new Date(iso);
    if (date.toDateString() === new Date().toDateString()) {
      return date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
    }
    return date.toLocaleDateString([], { month: "short", day: "numeric" });
  }

  function reportEntry(report) {
    const li = document.createElement("li");
    li.dataset.reportId = report.report_id;
    li.dataset.status = report.status;
    const open = document.createElement("button");
    open.type = "button";
    open.className = "open";
    const title = document.createElement("span");
    title.className = "title";
    title.textContent = report.query;
    const details = document.createElement("span");
    details.className = "details";
    const status = document.createElement("span");
    status.className = "status status-" + report.status;
    status.textContent = report.status;
    const when = document.createElement("time");
    when.dateTime = report.created_at;
    when.textContent = dateLabel(report.created_at);
    details.append(status, when);
    open.append(title, details);
    open.title = `${report.query} — ${report.status}, ${new Date(report.created_at).toLocaleString()}`;
    open.addEventListener("click", () => openReport(report.report_id));
    const remove = document.createElement("button");
    remove.type = "button";
    remove.className = "icon delete";
    remove.textContent = "×";
    remove.setAttribute("aria-label", "Delete report " + report.query);
    remove.addEventListener("click", () => deleteWithUndo(li, report));
    li.append(open, remove);
    return li;
  }

  async function loadReports() {
    const sidebar = $("report-list").parentElement;
    try {
      const data = await requestJson("/research/reports?page_size=50");
      clearErrors(sidebar);
      const rows = (data.reports || []).filter((r) => !pendingDelete || pendingDelete.id !== r.report_id);
      $("report-list").replaceChildren(...rows.map(reportEntry));
      show("report-empty", rows.length === 0);
    } catch (error) {
      show("report-empty", false);
      showError(sidebar, "Could not load reports: " + errorMessage(error), loadReports);
    }
  }

  function deleteWithUndo(li, report) {
    flushDelete();
    li.remove();
    show("report-empty", $("report-list").childElementCount === 0);
    pendingDelete = { id: report.report_id, timer: setTimeout(flushDelete, UNDO_MS) };
    $("toast-text").textContent = "Deleted “" + report.query + "”.";
    show("toast", true);
    $("toast-undo").onclick = () => {
      clearTimeout(pendingDelete.timer);
      pendingDelete = null;
      show("toast", false);
      loadReports();
    };
  }

  function flushDelete(keepalive) {
    if (!pendingDelete) return;
    const { id, timer } = pendingDelete;
    clearTimeout(timer);
    pendingDelete = null;
    show("toast", false);
    request(`/research/reports/${id}`, { method: "DELETE", keepalive: Boolean(keepalive) })
      .catch((error) => showError($("report-list").parentElement, "Could not delete: " + errorMessage(error)))
      .finally(loadReports);
  }

  async function openReport(id) {
    if (controller) return;
    resetView();
    show("research-progress", false);
    try {
      const report = await requestJson(`/research/reports/${id}`);
      query.value = report.query;
      if (report.status === "completed" || report.markdown_report) renderReport(report);
      else showFailure(`This research ${report.status}: ${report.error || "no report was written"}`, report.query);
    } catch (error) {
      showFailure("Could not load the report: " + errorMessage(error));
    }
  }

  $("research-form").addEventListener("submit", (event) => {
    event.preventDefault();
    start(query.value);
  });
  $("research-stop").addEventListener("click", () => { if (controller) controller.abort(); });
  window.addEventListener("pagehide", () => flushDelete(true));
  checkOffline("/chat/info");
  loadReports();
  setBusy(false);
  app.dataset.ready = "true";
})();
