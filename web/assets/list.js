// The conversation list: one view (Mine, Unassigned, All) with its
// filters, newest activity first, the next page loaded as the agent
// scrolls, and kept current by the stream.
import { get, APIError } from "./api.js";
import { h, $, place } from "./dom.js";
import { parseTime, short, long } from "./fmt.js";
import { t } from "./i18n.js";

const NIL = "00000000-0000-0000-0000-000000000000";

export function peerName(c) {
  const p = c.peer || {};
  return p.name || p.target_name || p.target || c.name || c.dialog_id || "";
}

export const channelName = (c) => t("channel_" + c.type);

// labelChip shows a label's name with its colour as a dot (set through the
// style object, which the page's policy allows, never a style attribute).
export function labelChip(app, name, ...extra) {
  const l = app.labels.find((x) => x.name.toLowerCase() === name.toLowerCase());
  const dot = h("span", { class: "dot", "aria-hidden": "true" });
  if (l && /^#[0-9a-fA-F]{6}$/.test(l.color)) dot.style.background = l.color;
  return h("span", { class: "chip" }, dot, name, ...extra);
}

export const isDeleted = (c) => parseTime(c.tm_delete) !== null;

// unreadOf is the calling agent's count of unread incoming messages.
export const unreadOf = (c) => c.unread_count || 0;

function lastActivity(c) {
  return (parseTime(c.tm_last_message) || parseTime(c.last_message && c.last_message.tm_create) ||
    c._lastAt || parseTime(c.tm_create) || new Date(0)).getTime();
}

export function createList(app) {
  const ul = $("#list"), state = $("#list-state"), scroller = $("#list-scroll");
  const rows = new Map(); // id -> conversation shown
  let pageToken = "", done = false, loading = false, generation = 0;

  // matches says whether c belongs in the current view: the server filters
  // too, where it can; this keeps live updates and older servers right.
  function matches(c) {
    if (isDeleted(c)) return false;
    const owned = c.owner_type === "agent" && c.owner_id && c.owner_id !== NIL;
    if (app.view === "mine" && !(owned && c.owner_id === app.me.id)) return false;
    if (app.view === "unassigned" && owned) return false;
    const f = app.filters;
    if (f.status && c.status !== f.status) return false;
    if (f.label && !(c.labels || []).some((l) => l.toLowerCase() === f.label.toLowerCase())) return false;
    if (f.account && c.account_id !== f.account) return false;
    return true;
  }

  function params() {
    const p = { page_size: 50, order: "last_message", page_token: pageToken };
    if (app.view === "mine") p.owner_id = app.me.id;
    if (app.view === "unassigned") p.unassigned = "true";
    if (app.filters.status) p.status = app.filters.status;
    if (app.filters.label) p.label = app.filters.label;
    if (app.filters.account) p.account_id = app.filters.account;
    return p;
  }

  async function reload() {
    generation++;
    rows.clear();
    pageToken = "";
    done = false;
    loading = false;
    render();
    await loadMore();
  }

  // loadMore reads pages until one adds a row or the list ends.
  async function loadMore() {
    if (loading || done) return;
    loading = true;
    const gen = generation;
    state.textContent = t("loading");
    try {
      for (let i = 0; i < 5 && !done; i++) {
        const page = await get("/v1.0/conversations", params());
        if (gen !== generation) return;
        let added = 0;
        for (const c of page.result) {
          if (matches(c) && !rows.has(c.id)) {
            rows.set(c.id, c);
            added++;
          }
        }
        pageToken = page.next_page_token;
        done = page.result.length === 0 || !pageToken;
        if (added) break;
      }
      state.textContent = rows.size === 0 && done ? t("no_conversations") : "";
    } catch (e) {
      if (gen !== generation) return;
      done = true;
      const closed = app.view === "unassigned" && e instanceof APIError && e.status === 403;
      state.textContent = closed ? t("queue_closed") : t("load_failed", e.message);
    } finally {
      if (gen === generation) loading = false;
    }
    render();
    // Still room on screen: fetch on.
    if (!done && scroller.scrollHeight <= scroller.clientHeight + 50) loadMore();
  }

  function row(c) {
    const n = unreadOf(c);
    const last = c.last_message || c._last;
    const when = (c.last_message && c.last_message.tm_create) || c.tm_last_message || (c._lastAt && c._lastAt.toISOString()) || c.tm_create;
    return h("li", {},
      h("button", { type: "button", class: "row" + (app.openID === c.id ? " active" : "") + (n ? " unread" : ""),
        dataset: { id: c.id }, "aria-current": app.openID === c.id ? "true" : null, onclick: () => app.go(c.id) },
        h("span", { class: "row-top" },
          h("span", { class: "peer" }, peerName(c)),
          h("time", { class: "time", datetime: when, title: long(when) }, short(when))),
        h("span", { class: "row-mid" },
          h("span", { class: "chan" }, channelName(c)),
          h("span", { class: "preview" }, last ? last.text || "" : ""),
          n ? h("span", { class: "badge", "aria-label": t("unread", n) }, String(n)) : null),
        c.status !== "open" ? h("span", { class: "state " + c.status }, t("conv_" + c.status)) : null,
        c.labels && c.labels.length
          ? h("span", { class: "row-labels" }, c.labels.map((l) => labelChip(app, l))) : null));
  }

  // rowOf returns a conversation's row, made again only when it changed,
  // so that a live update does not rebuild every row.
  const made = new Map(); // id -> {c, open, labels, el}
  function rowOf(c) {
    const open = app.openID === c.id, kept = made.get(c.id);
    if (kept && kept.c === c && kept.open === open && kept.labels === app.labels) return kept.el;
    const el = row(c);
    made.set(c.id, { c, open, labels: app.labels, el });
    return el;
  }

  function render() {
    const focused = document.activeElement && document.activeElement.closest && document.activeElement.closest("#list .row");
    const focusID = focused ? focused.dataset.id : "";
    const sorted = [...rows.values()].sort((a, b) => lastActivity(b) - lastActivity(a));
    place(ul, sorted.map(rowOf));
    for (const id of made.keys()) if (!rows.has(id)) made.delete(id);
    if (focusID) {
      const again = ul.querySelector(`.row[data-id="${CSS.escape(focusID)}"]`);
      if (again) again.focus();
    }
  }

  // upsert takes a conversation as the server has it now.
  function upsert(c) {
    const old = rows.get(c.id) || app.known.get(c.id);
    const merged = old ? { ...old, ...c } : c;
    app.known.set(c.id, merged);
    if (matches(merged)) rows.set(c.id, merged);
    else rows.delete(c.id);
    render();
  }

  // fromStream takes a conversation of a stream event. An event is nobody's
  // in particular, so its unread_count is always 0: the page keeps its own,
  // and asks the server for this agent's count when it has none yet.
  async function fromStream(c) {
    const { unread_count: _, ...rest } = c;
    const old = rows.get(c.id) || app.known.get(c.id);
    upsert(rest);
    if (old && "unread_count" in old) return;
    if (!matches(app.known.get(c.id))) return;
    try {
      upsert(await get("/v1.0/conversations/" + c.id));
    } catch {
      // Gone or no longer visible: the stream says so next.
    }
  }

  // message records a message of a conversation: its preview and time,
  // and one more unread when it is incoming and not being read. A
  // conversation fetched now already counts it.
  async function message(m) {
    let c = rows.get(m.conversation_id) || app.known.get(m.conversation_id);
    let counted = false;
    if (!c || !("unread_count" in c)) {
      try {
        c = await get("/v1.0/conversations/" + m.conversation_id);
        counted = true;
      } catch {
        return;
      }
    }
    c = { ...c, _last: { text: m.text, direction: m.direction }, _lastAt: parseTime(m.tm_create) || new Date() };
    if ("last_message" in c) c.last_message = { id: m.id, direction: m.direction, text: (m.text || "").slice(0, 140), tm_create: m.tm_create };
    if ("tm_last_message" in c) c.tm_last_message = m.tm_create;
    const reading = app.openID === c.id && document.visibilityState === "visible";
    if (m.direction === "incoming" && !reading && !counted) c.unread_count = (c.unread_count || 0) + 1;
    upsert(c);
  }

  function read(id, count) {
    const c = rows.get(id) || app.known.get(id);
    if (!c) return;
    upsert({ ...c, unread_count: count || 0 });
  }

  function remove(id) {
    rows.delete(id);
    render();
  }

  // move focuses the row delta away from the focused or open one.
  function move(delta) {
    const buttons = [...ul.querySelectorAll(".row")];
    if (!buttons.length) return;
    let i = buttons.indexOf(document.activeElement);
    if (i < 0) i = buttons.findIndex((b) => b.dataset.id === app.openID);
    const next = i < 0 ? 0 : Math.max(0, Math.min(buttons.length - 1, i + delta));
    buttons[next].focus();
    buttons[next].scrollIntoView({ block: "nearest" });
    if (next === buttons.length - 1) loadMore();
  }

  new IntersectionObserver((entries) => {
    if (entries.some((e) => e.isIntersecting)) loadMore();
  }, { root: scroller, rootMargin: "200px" }).observe($("#list-more"));

  return { reload, loadMore, upsert, fromStream, message, read, remove, move, render, get: (id) => rows.get(id) || app.known.get(id) };
}
