/* A small, safe Markdown renderer shared by the chat and research pages.
 *
 * Safety comes from the order of operations: the whole text is HTML-escaped first, so nothing
 * the model (or a user it echoes) writes can become a tag or an attribute. Only then is a small
 * Markdown subset turned into the few tags we emit ourselves: code fences, inline code, bold,
 * italic, links (http and https only), headings, lists and paragraphs. The pages' CSP forbids
 * inline scripts as a second line of defence.
 */
(function () {
  "use strict";

  const ESCAPES = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

  function escapeHtml(text) {
    return String(text).replace(/[&<>"']/g, (c) => ESCAPES[c]);
  }

  // Inline markup over already-escaped text. Code spans are cut out first so that nothing
  // inside them is formatted.
  function inline(escaped) {
    const codes = [];
    let out = escaped.replace(/`([^`\n]+)`/g, (_, code) => {
      codes.push(code);
      return "\u0000" + (codes.length - 1) + "\u0000";
    });
    out = out.replace(/\[([^\]\n]+)\]\((https?:\/\/[^\s)]+)\)/g, (_, label, url) =>
      '<a href="' + url + '" rel="noopener noreferrer nofollow" target="_blank">' + label + "</a>");
    out = out.replace(/\*\*([^*\n]+)\*\*/g, "<strong>$1</strong>");
    out = out.replace(/(^|[^*\w])\*([^*\n]+)\*(?![\w*])/g, "$1<em>$2</em>");
    out = out.replace(/(^|[^_\w])_([^_\n]+)_(?![\w_])/g, "$1<em>$2</em>");
    return out.replace(/\u0000(\d+)\u0000/g, (_, i) => "<code>" + codes[Number(i)] + "</code>");
  }

  function renderBlocks(escaped) {
    const lines = escaped.split("\n");
    const html = [];
    let paragraph = [];
    let list = null; // {tag, items}
    const flushParagraph = () => {
      if (paragraph.length) html.push("<p>" + inline(paragraph.join("<br>")) + "</p>");
      paragraph = [];
    };
    const flushList = () => {
      if (list) {
        html.push("<" + list.tag + ">" + list.items.map((i) => "<li>" + inline(i) + "</li>").join("") + "</" + list.tag + ">");
      }
      list = null;
    };
    for (const line of lines) {
      const heading = /^(#{1,6})\s+(.*)$/.exec(line);
      const bullet = /^\s*[-*+]\s+(.*)$/.exec(line);
      const numbered = /^\s*\d+[.)]\s+(.*)$/.exec(line);
      if (!line.trim()) {
        flushParagraph();
        flushList();
      } else if (heading) {
        flushParagraph();
        flushList();
        const level = Math.min(heading[1].length + 2, 6);
        html.push("<h" + level + ">" + inline(heading[2]) + "</h" + level + ">");
      } else if (bullet || numbered) {
        flushParagraph();
        const tag = bullet ? "ul" : "ol";
        if (list && list.tag !== tag) flushList();
        if (!list) list = { tag, items: [] };
        list.items.push((bullet || numbered)[1]);
      } else if (list && /^\s{2,}\S/.test(line)) {
        list.items[list.items.length - 1] += " " + line.trim();
      } else {
        flushList();
        paragraph.push(line);
      }
    }
    flushParagraph();
    flushList();
    return html.join("\n");
  }

  /* Markdown text → an HTML string made only of escaped text and our own tags. */
  function renderMarkdown(text) {
    const escaped = escapeHtml(text || "");
    const parts = [];
    const fence = /^```([\w+-]*)[^\n]*\n([\s\S]*?)(?:^```[ \t]*$|(?![\s\S]))/gm;
    let last = 0;
    let match;
    while ((match = fence.exec(escaped)) !== null) {
      parts.push(renderBlocks(escaped.slice(last, match.index)));
      const lang = match[1] ? ' data-lang="' + match[1] + '"' : "";
      parts.push('<div class="codeblock"><button type="button" class="copy" aria-label="Copy code">Copy</button><pre' + lang + "><code>" + match[2].replace(/\n$/, "") + "</code></pre></div>");
      last = fence.lastIndex;
      if (match[0].length === 0) fence.lastIndex++;
    }
    parts.push(renderBlocks(escaped.slice(last)));
    return parts.join("\n");
  }

  /* Render into an element (replacing its content). */
  function renderInto(element, text) {
    element.innerHTML = renderMarkdown(text);
  }

  // One listener for every copy button on the page.
  document.addEventListener("click", (event) => {
    const button = event.target.closest && event.target.closest("button.copy");
    if (!button) return;
    const code = button.parentElement.querySelector("code");
    const done = () => {
      button.textContent = "Copied";
      setTimeout(() => (button.textContent = "Copy"), 1500);
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(code.textContent).then(done, () => (button.textContent = "Copy failed"));
    } else {
      const area = document.createElement("textarea");
      area.value = code.textContent;
      document.body.append(area);
      area.select();
      try { document.execCommand("copy"); done(); } catch (_) { button.textContent = "Copy failed"; }
      area.remove();
    }
  });

  window.AgentSite = Object.assign(window.AgentSite || {}, {
    escapeHtml, renderMarkdown, renderInto,
  });
})();
