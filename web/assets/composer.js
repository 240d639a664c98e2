// The composer: Enter sends, Shift+Enter starts a new line, "/" offers the
// customer's canned responses; a second mode writes a private note.
//
// A canned response without variables is put in the composer to edit, as
// agents expect. One with ${...} variables is sent as itself
// (canned_response_id): the server fills them as it does for flows, so the
// rules stay in one place; the composer shows it read-only until sent or
// dropped with Esc.
import { get } from "./api.js";
import { h } from "./dom.js";
import { t } from "./i18n.js";

export function attachComposer(app, s, { send, note }) {
  let mode = "reply";
  let options = [], chosen = -1, query = 0, canned = null;
  const ta = h("textarea", { id: "composer", rows: "3", "aria-label": t("reply"), placeholder: t("composer_placeholder"),
    "aria-autocomplete": "list", "aria-controls": "canned", "aria-expanded": "false" });
  const menu = h("ul", { id: "canned", class: "canned popup", role: "listbox", "aria-label": t("canned"), hidden: true });
  const replyTab = h("button", { type: "button", role: "tab", class: "mode", "aria-selected": "true", onclick: () => setMode("reply") }, t("reply"));
  const noteTab = h("button", { type: "button", role: "tab", class: "mode", "aria-selected": "false", onclick: () => setMode("note") }, t("note"));
  const submit = h("button", { type: "submit", class: "primary" }, t("send"));
  const hint = h("p", { class: "canned-hint", id: "canned-hint", hidden: true });
  // blocked is why a reply cannot be sent (e.g. the peer opted out); notes still can.
  let blocked = "";
  const blockedEl = h("p", { class: "blocked", id: "composer-blocked", role: "status", hidden: true });
  const form = h("form", { class: "composer" + (mode === "note" ? " noting" : ""), method: "post", action: "/" },
    h("div", { class: "modes", role: "tablist" }, replyTab, noteTab), blockedEl, menu, hint, ta, submit);
  s.composer.replaceChildren(form);

  function setMode(m) {
    if (m === "note") dropCanned();
    mode = m;
    form.classList.toggle("noting", m === "note");
    replyTab.setAttribute("aria-selected", String(m === "reply"));
    noteTab.setAttribute("aria-selected", String(m === "note"));
    ta.placeholder = t(m === "note" ? "note_placeholder" : "composer_placeholder");
    ta.setAttribute("aria-label", t(m === "note" ? "note" : "reply"));
    submit.textContent = t(m === "note" ? "add_note" : "send");
    closeMenu();
    paintBlocked();
    ta.focus();
  }

  function paintBlocked() {
    const off = mode === "reply" && !!blocked;
    ta.disabled = submit.disabled = off;
    blockedEl.textContent = blocked;
    blockedEl.hidden = !off;
    if (off) ta.setAttribute("aria-describedby", "composer-blocked");
    else if (ta.getAttribute("aria-describedby") === "composer-blocked") ta.removeAttribute("aria-describedby");
  }

  async function go() {
    if (canned) {
      const o = canned;
      dropCanned();
      send({ canned_response_id: o.id }, o.text);
      return;
    }
    const text = ta.value.trim();
    if (!text || (mode === "reply" && blocked)) return;
    if (mode === "note") {
      if (await note(text)) ta.value = "";
      return;
    }
    ta.value = "";
    send({ text }, text);
  }

  form.addEventListener("submit", (e) => {
    e.preventDefault();
    go();
  });

  ta.addEventListener("keydown", (e) => {
    if (canned && (e.key === "Escape" || e.key === "Backspace" || e.key === "Delete")) {
      e.preventDefault();
      e.stopPropagation();
      dropCanned();
      return;
    }
    if (!menu.hidden) {
      if (e.key === "ArrowDown" || e.key === "ArrowUp") {
        e.preventDefault();
        chosen = (chosen + (e.key === "ArrowDown" ? 1 : -1) + options.length) % options.length;
        paint();
        return;
      }
      if ((e.key === "Enter" || e.key === "Tab") && chosen >= 0) {
        e.preventDefault();
        pick(options[chosen]);
        return;
      }
      if (e.key === "Escape") {
        e.preventDefault();
        e.stopPropagation();
        closeMenu();
        return;
      }
    }
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      go();
    }
  });

  // A text that is "/" and a word so far asks for canned responses.
  ta.addEventListener("input", async () => {
    const m = mode === "reply" && /^\/(\S*)$/.exec(ta.value);
    if (!m) return closeMenu();
    const mine = ++query;
    try {
      const page = await get("/v1.0/canned_responses", { q: m[1], page_size: 10 });
      if (mine !== query) return;
      options = page.result;
      chosen = options.length ? 0 : -1;
      paint();
    } catch {
      closeMenu();
    }
  });

  function paint() {
    menu.replaceChildren(...options.map((o, i) =>
      h("li", { role: "option", id: "canned-" + i, class: i === chosen ? "chosen" : "", "aria-selected": String(i === chosen),
        onmousedown: (e) => { e.preventDefault(); pick(o); } },
        h("strong", {}, "/" + o.short_code), " ", h("span", {}, o.text))));
    menu.hidden = options.length === 0;
    ta.setAttribute("aria-expanded", String(!menu.hidden));
    if (chosen >= 0) ta.setAttribute("aria-activedescendant", "canned-" + chosen);
  }

  function pick(o) {
    closeMenu();
    ta.value = o.text;
    if (/\$\{[^}]*\}/.test(o.text)) {
      canned = o;
      ta.readOnly = true;
      ta.classList.add("canned-chosen");
      hint.textContent = t("canned_filled", "/" + o.short_code);
      hint.hidden = false;
      ta.setAttribute("aria-describedby", "canned-hint");
    }
    ta.focus();
  }

  function dropCanned() {
    if (!canned) return;
    canned = null;
    ta.value = "";
    ta.readOnly = false;
    ta.classList.remove("canned-chosen");
    hint.hidden = true;
    ta.removeAttribute("aria-describedby");
  }

  // block disables replies with reason ("" enables them again).
  function block(reason) {
    blocked = reason || "";
    if (blocked) dropCanned();
    paintBlocked();
  }

  function closeMenu() {
    query++;
    options = [];
    chosen = -1;
    menu.hidden = true;
    menu.replaceChildren();
    ta.setAttribute("aria-expanded", "false");
    ta.removeAttribute("aria-activedescendant");
  }

  return { block };
}
