/* The research page: start a research run over SSE (fetch streaming), show its progress, render
 * the report with the shared safe Markdown renderer, list the visitor's past reports. */
(function () {
  "use strict";
  const {
    renderInto, readSse, checkOffline, request, requestJson, errorMessage, showError, clearErrors,
  } = window.AgentSite;
  const $ = (id) => document.getElementById(id);
  const app = $("research-app");
  const query = $("research-query");
  let controller = null;

  function show(id, visible) { $(id).hidden = !visible; }

  function setBusy(busy) {
    $("research-start").disabled = busy;
    show("research-stop", busy);
    app.dataset.busy = busy ? "true" : "false";
  }

  function resetView() {
    $("research-plan").replaceChildren();
    $("research-bar").value = 0;
    $("research-bar").max = 1;
    $("research-count").textContent = "";
    $("research-stage").textContent = "";
    clearErrors($("research-errors"));
    show("research-report", false);
  }

  function showFailure(message, retryQuery) {
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
      await readSse(response, (event) => {
        if (event.type === "research_progress") onProgress(event);
        else if (event.type === "report") {
          $("research-stage").textContent = "Report ready.";
          renderReport(event);
        } else if (event.type === "stream_complete") finished = true;
        else if (event.type === "run_cancelled") {
          finished = true;
          showError(event.message || "The research was cancelled.", text);
        } else if (event.type === "error") {
          finished = true;
          showFailure(errorMessage(event, "The research failed."), text);
        }
      });
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

  async function loadReports() {
    const list = $("report-list");
    const sidebar = list.parentElement;
    try {
      const data = await requestJson("/research/reports?page_size=50");
      clearErrors(sidebar);
      list.replaceChildren();
      for (const report of data.reports || []) {
        const li = document.createElement("li");
        const open = document.createElement("button");
        open.type = "button";
        open.className = "open";
        open.textContent = report.query;
        open.title = `${report.status} · ${new Date(report.created_at).toLocaleString()}`;
        open.addEventListener("click", () => openReport(report.report_id));
        li.append(open);
        list.append(li);
      }
      show("report-empty", (data.reports || []).length === 0);
    } catch (error) {
      show("report-empty", false);
      showError(sidebar, "Could not load reports: " + errorMessage(error), loadReports);
    }
  }

  async function openReport(id) {
    if (controller) return;
    resetView();
    show("research-progress", false);
    try {
      const report = await requestJson(`/research/reports/${id}`);
      query.value = report.query;
      if (report.status === "completed" || report.markdown_report) renderReport(report);
      else showFailure(`This research ${report.status}: ${report.error || "no report"}`, report.query);
    } catch (error) {
      showFailure("Could not load the report: " + errorMessage(error));
    }
  }

  $("research-form").addEventListener("submit", (event) => {
    event.preventDefault();
    start(query.value);
  });
  $("research-stop").addEventListener("click", () => { if (controller) controller.abort(); });
  checkOffline("/chat/info");
  loadReports();
  setBusy(false);
  app.dataset.ready = "true";
})();
