// The search box: the API's search, each result opening its conversation
// at the match.
import { get, APIError } from "./api.js";
import { h, $ } from "./dom.js";
import { t } from "./i18n.js";
import { peerName } from "./list.js";

export function createSearch(app) {
  const form = $("#search-form"), input = $("#search"), box = $("#search-results");
  let asked = 0;

  function hide() {
    box.hidden = true;
    box.replaceChildren();
  }

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const q = input.value.trim();
    if (!q) return hide();
    const mine = ++asked;
    box.hidden = false;
    box.replaceChildren(h("p", {}, t("loading")));
    try {
      const page = await get("/v1.0/search", { q, page_size: 20 });
      if (mine !== asked) return;
      const items = page.result.map(result);
      box.replaceChildren(...(items.length ? items : [h("p", {}, t("search_none"))]));
    } catch (err) {
      if (mine !== asked) return;
      box.replaceChildren(h("p", {}, err instanceof APIError && err.reason === "QUERY_TOO_SHORT" ? t("search_short") : t("error", err.message)));
    }
  });

  // result is a hit: its conversation's peer, what matched, and the
  // fragment with the match marked, all as text nodes.
  function result(r) {
    const conv = r.conversation;
    const msgID = r.message ? r.message.id : "";
    return h("button", { type: "button", class: "hit " + r.type, dataset: { conversation: conv.id, message: msgID },
      onclick: () => { hide(); input.blur(); app.go(conv.id, msgID); } },
      h("strong", {}, peerName(conv) || conv.name || conv.id, " ", h("small", {}, t("field_" + r.field))),
      h("span", { class: "fragment" }, marked(r.fragment, r.match)));
  }

  // marked splits text at match ([start, end] in UTF-16 units, as JavaScript
  // indexes strings) into text and a <mark> of text.
  function marked(text, match) {
    if (!Array.isArray(match) || match[1] > text.length || match[0] >= match[1]) return [text];
    return [text.slice(0, match[0]), h("mark", {}, text.slice(match[0], match[1])), text.slice(match[1])];
  }

  input.addEventListener("keydown", (e) => {
    if (e.key === "Escape") {
      hide();
      input.blur();
    }
  });
  document.addEventListener("click", (e) => !form.contains(e.target) && hide());
  return { focus: () => input.focus() };
}
