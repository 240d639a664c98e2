// WhatsApp's customer service window in the open conversation: a line
// saying until when free-form replies may be sent, and, once it is closed,
// a picker of the business's approved templates, the one kind of message
// WhatsApp still takes. The server refuses free-form sends outside the
// window (409 WHATSAPP_WINDOW_CLOSED) whatever the page shows.
import { get } from "./api.js";
import { h } from "./dom.js";
import { parseTime, long } from "./fmt.js";
import { t } from "./i18n.js";

const WINDOW_MS = 24 * 3600 * 1000;

// windowState is the window of a conversation now: null when the channel
// has none, else {open, until} (until null while the customer never wrote).
export function windowState(conv, now = new Date()) {
  if (!conv || conv.type !== "whatsapp") return null;
  const until = parseTime(conv.whatsapp_window_expires);
  return { open: !!until && until > now, until };
}

// opened is conv with the window an incoming message opens.
export function opened(conv, message) {
  const at = parseTime(message.tm_create);
  if (!at || !conv || conv.type !== "whatsapp") return conv;
  const until = new Date(at.getTime() + WINDOW_MS);
  const cur = parseTime(conv.whatsapp_window_expires);
  return cur && cur >= until ? conv : { ...conv, whatsapp_window_expires: until.toISOString() };
}

// kindOf names a message's structured kind (data.type) for its label.
export function kindOf(m) {
  const k = m && m.data && m.data.type;
  return k && t("kind_" + k) !== "kind_" + k ? t("kind_" + k) : "";
}

// renderWindow fills el with the window line and, when closed, the
// template picker; send(body, preview) sends as the composer does. It
// returns a timer id that re-renders when the window closes.
export function renderWindow(el, conv, send, rerender) {
  const w = windowState(conv);
  if (!w) {
    el.replaceChildren();
    el.hidden = true;
    return 0;
  }
  el.hidden = false;
  if (w.open) {
    el.replaceChildren(h("p", { class: "wa-window open", role: "status" }, t("wa_window_open", long(w.until))));
    const left = w.until.getTime() - Date.now();
    return left < 2 ** 31 - 1 ? setTimeout(rerender, left + 50) : 0;
  }
  const line = h("p", { class: "wa-window closed", role: "status" },
    w.until ? t("wa_window_closed", long(w.until)) : t("wa_window_never"));
  const picker = h("div", { class: "wa-templates" });
  const open = h("button", { type: "button", class: "wa-pick", onclick: () => loadTemplates(picker, conv, send, true) }, t("wa_send_template"));
  el.replaceChildren(line, open, picker);
  return 0;
}

async function loadTemplates(el, conv, send, first) {
  el.replaceChildren(h("p", { class: "empty" }, t("loading")));
  let list;
  try {
    list = (await get(`/v1.0/conversation_accounts/${conv.account_id}/templates`, first ? {} : { refresh: "true" })).result;
  } catch (e) {
    el.replaceChildren(h("p", { class: "error" }, t("wa_templates_failed", e.message)));
    return;
  }
  if (!list.length) {
    el.replaceChildren(h("p", { class: "empty" }, t("wa_no_templates")));
    return;
  }
  const select = h("select", { class: "wa-template", "aria-label": t("wa_template") },
    list.map((tp, i) => h("option", { value: String(i) }, `${tp.name} (${tp.language})`)));
  const fields = h("div", { class: "wa-params" });
  const preview = h("p", { class: "wa-preview" });
  const chosen = () => list[Number(select.value)];
  const paint = () => {
    const n = placeholders(bodyOf(chosen())).length;
    fields.replaceChildren(...Array.from({ length: n }, (_, i) =>
      h("label", {}, h("span", {}, "{{" + (i + 1) + "}}"), h("input", { class: "wa-param", "data-index": String(i), oninput: refresh }))));
    refresh();
  };
  const values = () => [...fields.querySelectorAll("input")].map((i) => i.value);
  function refresh() {
    preview.textContent = fill(bodyOf(chosen()), values());
  }
  select.addEventListener("change", paint);
  const go = h("button", { type: "button", class: "primary wa-send", onclick: () => {
    const tp = chosen();
    const params = values();
    const template = { name: tp.name, language: { code: tp.language } };
    if (params.length) template.components = [{ type: "body", parameters: params.map((v) => ({ type: "text", text: v })) }];
    send({ template }, fill(bodyOf(tp), params));
    el.replaceChildren();
  } }, t("wa_send"));
  el.replaceChildren(select, fields, preview, go,
    h("button", { type: "button", class: "wa-refresh", onclick: () => loadTemplates(el, conv, send, false) }, t("wa_refresh")));
  paint();
}

function bodyOf(tp) {
  const b = (tp.components || []).find((c) => String(c.type).toUpperCase() === "BODY");
  return (b && b.text) || "[" + tp.name + "]";
}

function placeholders(text) {
  return [...new Set([...text.matchAll(/\{\{\s*(\d+)\s*\}\}/g)].map((m) => m[1]))];
}

function fill(text, values) {
  return text.replace(/\{\{\s*(\d+)\s*\}\}/g, (m, i) => values[Number(i) - 1] || m);
}
