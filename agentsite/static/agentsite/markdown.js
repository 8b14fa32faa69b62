/* Markdown for the chat and research pages: marked (GFM: tables, fenced code, autolinks) turns
 * the text into HTML, DOMPurify keeps only safe tags and attributes, highlight.js colours code.
 * The three are vendored (agentsite/static/agentsite/vendor/, `make vendor-js`).
 *
 * Raw HTML in the text is shown as text, never parsed: a model that echoes "<b>" means the
 * characters. Links keep only http(s) and mailto targets and open in a new tab; images become
 * links (the CSP loads no foreign images). The pages' CSP forbids inline scripts as a second
 * line of defence behind the sanitizer.
 */
(function () {
  "use strict";

  const ESCAPES = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };
  const SAFE_URL = /^(?:https?:|mailto:)/i;

  function escapeHtml(text) {
    return String(text).replace(/[&<>"']/g, (c) => ESCAPES[c]);
  }

  function highlighted(code, lang) {
    const language = lang && window.hljs && window.hljs.getLanguage(lang) ? lang : null;
    if (!language) return escapeHtml(code);
    return window.hljs.highlight(code, { language, ignoreIllegals: true }).value;
  }

  const parser = new window.marked.Marked({ gfm: true, breaks: true });
  parser.use({
    // No HTML tokens at all: "<b>" stays text (escaped by the text renderer), so the Markdown
    // around it still renders, and nothing raw ever reaches the sanitizer.
    tokenizer: {
      html() { return undefined; },
      tag() { return undefined; },
    },
    renderer: {
      html(token) { return escapeHtml(token.text); },
      image(token) {
        return '<a href="' + escapeHtml(token.href) + '">' + escapeHtml(token.text || token.href) + "</a>";
      },
      code(token) {
        const lang = String(token.lang || "").trim().split(/\s+/)[0].replace(/[^\w+#.-]/g, "");
        const label = lang ? '<span class="code-lang">' + escapeHtml(lang) + "</span>" : "<span></span>";
        const code = String(token.text).replace(/\n$/, "");
        return '<div class="codeblock"><div class="code-head">' + label +
          '<button type="button" class="copy" aria-label="Copy code">Copy</button></div>' +
          '<pre><code class="hljs' + (lang ? " language-" + escapeHtml(lang) : "") + '">' +
          highlighted(code, lang) + "</code></pre></div>";
      },
    },
  });

  window.DOMPurify.addHook("afterSanitizeAttributes", (node) => {
    if (node.tagName !== "A") return;
    const href = node.getAttribute("href") || "";
    if (!SAFE_URL.test(href)) {
      node.removeAttribute("href"); // unwrapped to its text below
      return;
    }
    node.setAttribute("target", "_blank");
    node.setAttribute("rel", "noopener noreferrer nofollow");
  });
  const PURIFY = {
    FORBID_TAGS: ["style", "img", "svg", "math", "form", "input", "textarea", "select", "iframe"],
    FORBID_ATTR: ["style", "id", "name"],
    ALLOW_DATA_ATTR: false,
    RETURN_DOM_FRAGMENT: true,
  };

  /* Markdown text → sanitized HTML. */
  function renderMarkdown(text) {
    const fragment = window.DOMPurify.sanitize(parser.parse(String(text || ""), { async: false }), PURIFY);
    for (const link of fragment.querySelectorAll("a:not([href])")) link.replaceWith(link.textContent);
    const box = document.createElement("div");
    box.append(fragment);
    return box.innerHTML;
  }

  /* Render into an element (replacing its content). */
  function renderInto(element, text) {
    element.innerHTML = renderMarkdown(text);
  }

  // One listener for every copy button on the page (code blocks and whole messages).
  document.addEventListener("click", (event) => {
    const button = event.target.closest && event.target.closest("button.copy");
    if (!button) return;
    const source = button.closest(".codeblock")
      ? button.closest(".codeblock").querySelector("code")
      : button.closest(".message").querySelector(".markdown");
    const text = button.closest(".codeblock") ? source.textContent : (source.dataset.text || source.textContent);
    copyText(text, button);
  });

  function copyText(text, button) {
    const label = button.textContent;
    const done = () => {
      button.textContent = "Copied";
      setTimeout(() => (button.textContent = label), 1500);
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, () => (button.textContent = "Copy failed"));
    } else {
      const area = document.createElement("textarea");
      area.value = text;
      document.body.append(area);
      area.select();
      try { document.execCommand("copy"); done(); } catch (_) { button.textContent = "Copy failed"; }
      area.remove();
    }
  }

  window.AgentSite = Object.assign(window.AgentSite || {}, {
    escapeHtml, renderMarkdown, renderInto,
  });
})();
