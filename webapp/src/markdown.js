// Model output is untrusted. markdown-it with raw HTML disabled turns it into HTML (its link
// validator already refuses javascript:, vbscript:, file: and most data: URLs); DOMPurify then
// removes anything that could still run or load unexpectedly, whatever markdown-it produced.
import MarkdownIt from "markdown-it";
import DOMPurify from "dompurify";

const md = new MarkdownIt({ html: false, linkify: true, breaks: true, typographer: false });

const SAFE_LINK = /^(https?:|mailto:|\/(?!\/)|#)/i;
const SAFE_IMAGE = /^(https?:|\/(?!\/)|data:image\/(png|jpe?g|gif|webp);)/i;

DOMPurify.addHook("afterSanitizeAttributes", (node) => {
  if (node.tagName === "A") {
    const href = node.getAttribute("href") || "";
    if (!SAFE_LINK.test(href.trim())) node.removeAttribute("href");
    node.setAttribute("target", "_blank");
    node.setAttribute("rel", "noopener noreferrer nofollow ugc");
  }
  if (node.tagName === "IMG") {
    const src = node.getAttribute("src") || "";
    if (!SAFE_IMAGE.test(src.trim())) node.removeAttribute("src");
    node.setAttribute("loading", "lazy");
    node.setAttribute("referrerpolicy", "no-referrer");
  }
});

const PURIFY = {
  ALLOWED_TAGS: ["p", "br", "hr", "strong", "em", "s", "del", "code", "pre", "blockquote", "ul", "ol", "li",
    "h1", "h2", "h3", "h4", "h5", "h6", "a", "img", "table", "thead", "tbody", "tr", "th", "td", "span"],
  ALLOWED_ATTR: ["href", "src", "alt", "title", "class", "start", "target", "rel", "loading", "referrerpolicy"],
  ALLOW_DATA_ATTR: false,
  FORBID_ATTR: ["style"],
};

export function renderMarkdown(text) {
  return DOMPurify.sanitize(md.render(text || ""), PURIFY);
}
