/* The chat page's approval cards: a tool call that needs approval (approval_requested) shows
 * the tool, its arguments and Approve / Reject (with a reason); chat.js sends the decision. */
(function () {
  "use strict";

  function addCard(node, approval, decide) {
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
    node.querySelector(".events").append(card);
    const choose = (yes) => {
      approve.disabled = reject.disabled = reason.disabled = true;
      const why = reason.value.trim();
      const outcome = document.createElement("div");
      outcome.className = "approval-outcome";
      outcome.textContent = yes ? "Approved" : "Rejected" + (why ? `: ${why}` : "");
      actions.replaceWith(outcome);
      decide({ id: approval.id, approve: yes, reason: why });
    };
    approve.addEventListener("click", () => choose(true));
    reject.addEventListener("click", () => choose(false));
    window.AgentSiteChat.Messages.scrollDown();
  }

  window.AgentSiteChat = Object.assign(window.AgentSiteChat || {}, { Approvals: { addCard } });
})();
