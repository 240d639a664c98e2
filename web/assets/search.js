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
      box.replaceChildren(h("p", {}, err instanceof APIError && err.missingRoute ? t("search_unavailable") : t("error", err.message)));
    }
  });

  // result reads a hit defensively: a conversation, or a message with the
  // conversation it belongs to, and the matched fragment.
  function result(r) {
    const conv = r.conversation || (r.type === "conversation" ? r : null) || {};
    const convID = r.conversation_id || conv.id || (r.message && r.message.conversation_id);
    const msgID = (r.message && r.message.id) || r.message_id || "";
    const fragment = r.fragment || r.snippet || (r.message && r.message.text) || "";
    return h("button", { type: "button", class: "hit", onclick: () => { hide(); app.go(convID, msgID); } },
      h("strong", {}, peerName(conv) || conv.name || convID), fragment ? h("span", {}, fragment) : null);
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
