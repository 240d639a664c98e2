// The open conversation: its messages (newest at the bottom, older pages
// as the agent scrolls up) with the agents' notes between them, and the
// composer.
import { get, post, put, del, APIError } from "./api.js";
import { h, $, safeURL, place } from "./dom.js";
import { parseTime, short, long } from "./fmt.js";
import { t } from "./i18n.js";
import { peerName, channelName } from "./list.js";
import { renderActions } from "./actions.js";
import { attachComposer } from "./composer.js";
import { sendMethodEl, optOutReason, quotaEl } from "./channel.js";
import { renderWindow, windowState, opened, kindOf } from "./whatsapp.js";
import { heldMediaEl } from "./media.js";

// PAGE is how many messages a page holds; a shorter page is the oldest.
const PAGE = 50;
const RANK = { progressing: 0, done: 1, failed: 2 };
const PRANK = { accepted: 1, sent: 2, delivered: 3, read: 4, failed: 5 };

export function createThread(app) {
  const pane = $("#thread");
  let cur = null; // {id, conv, messages: Map, notes: Map, older, loadingOlder, target}

  async function open(id, targetMessage) {
    const s = { id, conv: null, messages: new Map(), notes: new Map(), older: "", loadingOlder: false,
      target: targetMessage || "", editing: "", deleting: "", notice: "", draft: "", els: new Map() };
    cur = s;
    pane.replaceChildren(h("p", { class: "empty" }, t("loading")));
    try {
      const [conv, page, notes] = await Promise.all([
        get("/v1.0/conversations/" + id),
        get(`/v1.0/conversations/${id}/messages`, { page_size: PAGE }),
        get(`/v1.0/conversations/${id}/notes`, { page_size: 100 }).catch(() => ({ result: [] })),
      ]);
      if (cur !== s) return;
      s.conv = conv;
      page.result.forEach((m) => s.messages.set(m.id, m));
      s.older = page.result.length === PAGE ? page.next_page_token : "";
      notes.result.forEach((n) => s.notes.set(n.id, n));
      app.list.upsert(conv);
    } catch (e) {
      if (cur !== s) return;
      // Taken or assigned away by someone else: it leaves the list too.
      if (e instanceof APIError && e.status === 404) app.list.remove(id);
      pane.replaceChildren(h("p", { class: "empty error" }, t("load_failed", e.message)));
      return;
    }
    build(s);
    while (s.target && !s.messages.has(s.target) && s.older) await loadOlder(s);
    renderTimeline(s, { bottom: !s.target });
    markRead(s);
  }

  function close() {
    cur = null;
    pane.replaceChildren(h("p", { class: "empty" }, t("pick_conversation")));
  }

  // build lays out the pane once per opened conversation.
  function build(s) {
    s.head = h("header", { class: "thread-head" });
    s.timeline = h("div", { class: "timeline", tabindex: "0", "aria-label": t("conversations") });
    s.noticeEl = h("p", { class: "notice", role: "alert", hidden: true });
    s.composer = h("div", { class: "composer-wrap" });
    s.waEl = h("div", { class: "wa", hidden: true });
    pane.replaceChildren(s.head, s.noticeEl, s.timeline, s.waEl, s.composer);
    s.timeline.addEventListener("scroll", () => {
      if (s.timeline.scrollTop < 80 && s.older && !s.loadingOlder) loadOlder(s).then(() => renderTimeline(s, {}));
    });
    renderHead(s);
    paintWindow(s);
    s.compose = attachComposer(app, s, { send: (body, preview) => send(s, body, preview), note: (text) => addNote(s, text) });
    s.compose.block(optOutReason(s.conv));
  }

  // paintWindow shows WhatsApp's window when it opened, closed or moved,
  // leaving a template being chosen alone otherwise.
  function paintWindow(s, force) {
    const w = windowState(s.conv);
    const key = w ? `${w.open}|${s.conv.whatsapp_window_expires}` : "";
    if (!force && key === s.waKey) return;
    s.waKey = key;
    clearTimeout(s.waTimer);
    s.waTimer = renderWindow(s.waEl, s.conv, (body, preview) => send(s, body, preview), () => cur === s && paintWindow(s, true));
  }

  function renderHead(s) {
    const c = s.conv;
    s.head.replaceChildren(
      h("button", { type: "button", class: "back", onclick: () => app.go("") }, "← " + t("back")),
      h("div", { class: "title" },
        h("h2", {}, peerName(c)),
        h("span", { class: "sub" }, channelName(c) + " · " + (c.peer && c.peer.target || c.dialog_id)),
        s.quota || (s.quota = quotaEl(app, c))),
      renderActions(app, c, { notice: (msg) => notice(s, msg), changed: (conv) => changed(s, conv) }));
  }

  function changed(s, conv) {
    if (cur !== s) return;
    s.conv = { ...s.conv, ...conv };
    app.list.upsert(s.conv);
    renderHead(s);
    s.compose.block(optOutReason(s.conv));
    paintWindow(s);
  }

  function notice(s, msg) {
    s.noticeEl.textContent = msg;
    s.noticeEl.hidden = !msg;
  }

  async function loadOlder(s) {
    if (!s.older || s.loadingOlder) return;
    s.loadingOlder = true;
    try {
      const page = await get(`/v1.0/conversations/${s.id}/messages`, { page_size: PAGE, page_token: s.older });
      page.result.forEach((m) => s.messages.set(m.id, m));
      s.older = page.result.length === PAGE ? page.next_page_token : "";
    } catch (e) {
      s.older = "";
      notice(s, t("load_failed", e.message));
    } finally {
      s.loadingOlder = false;
    }
  }

  function at(x) {
    return (parseTime(x.tm_create) || new Date(8640000000000000)).getTime();
  }

  function renderTimeline(s, { bottom }) {
    const tl = s.timeline;
    const fromBottom = tl.scrollHeight - tl.scrollTop;
    const atBottom = fromBottom - tl.clientHeight < 40;
    const items = [...s.messages.values(), ...[...s.notes.values()].map((n) => ({ ...n, _note: n }))];
    items.sort((a, b) => at(a) - at(b) || (a.id < b.id ? -1 : 1));
    const els = items.map((x) => elementOf(s, x));
    if (s.older) els.unshift(s.olderEl || (s.olderEl = h("p", { class: "older" }, t("older"))));
    place(tl, els); // a message arriving adds one element
    if (s.target) {
      const el = tl.querySelector(`[data-id="${CSS.escape(s.target)}"]`);
      if (el) {
        el.classList.add("match");
        el.scrollIntoView({ block: "center" });
        s.target = "";
        return;
      }
    }
    if (bottom || atBottom) tl.scrollTop = tl.scrollHeight;
    else tl.scrollTop = tl.scrollHeight - fromBottom;
  }

  // elementOf returns the element of a message or note, made again only
  // when it changed: rebuilding a long thread for each arrival kept the
  // page busy for longer than messages took to come.
  function elementOf(s, x) {
    const src = x._note || x;
    const key = x._note ? `${s.editing === x.id}|${s.deleting === x.id}` : "";
    const kept = s.els.get(x.id);
    if (kept && kept.src === src && kept.key === key) return kept.el;
    const el = x._note ? noteEl(s, x) : messageEl(s, x);
    s.els.set(x.id, { src, key, el });
    return el;
  }

  function senderOf(s, m) {
    if (m.direction === "incoming") {
      const src = m.source || {};
      return src.name || src.target_name || peerName(s.conv);
    }
    const who = m.sender;
    if (who && who.type === "agent") return app.agentName(who.id);
    if (who && who.type === "flow") return t("sender_bot");
    if (who && who.type === "accesskey") return app.keys.has(who.id) ? t("sender_key", app.keys.get(who.id)) : t("sender_api");
    if (who && who.type === "system") return t("sender_system");
    return app.sentByMe.has(m.id) || m._mine ? app.me.name || t("you") : t("sender_outgoing");
  }

  // deliveryEl is an outgoing message's state as its provider reports it:
  // sending, accepted, sent, delivered, read, or failed with the reason.
  function deliveryEl(m) {
    if (m.status === "failed") {
      const e = m.error;
      const reason = m._error || (e && (e.code ? t("msg_error", e.message, e.code) : e.message));
      return h("span", { class: "st failed" }, reason ? t("msg_failed_reason", reason) : t("msg_failed"));
    }
    const ps = m.provider_status || (m.status === "done" ? "accepted" : "progressing");
    const when = [];
    if (parseTime(m.tm_delivered)) when.push(t("msg_delivered_at", long(m.tm_delivered)));
    if (parseTime(m.tm_read)) when.push(t("msg_read_at", long(m.tm_read)));
    return h("span", { class: "st " + ps, title: when.join("\n") }, t("msg_" + ps));
  }

  function messageEl(s, m) {
    return h("article", { class: `msg ${m.direction === "incoming" ? "in" : "out"} ${m.status}`, dataset: { id: m.id } },
      h("header", {},
        h("span", { class: "who" }, senderOf(s, m)),
        h("time", { datetime: m.tm_create, title: long(m.tm_create) }, short(m.tm_create)),
        kindOf(m) ? h("span", { class: "kind" }, kindOf(m)) : null,
        m.direction === "outgoing" ? deliveryEl(m) : null,
        sendMethodEl(m)),
      m.text ? h("p", { class: "text" }, m.text) : null,
      (m.medias || []).length ? h("div", { class: "medias" }, m.medias.map(mediaEl)) : null);
  }

  function mediaEl(md) {
    const held = heldMediaEl(md);
    if (held) return held;
    const url = safeURL(md.filename);
    if (!url) return h("span", { class: "media" }, md.filename);
    if (md.type === "image" || md.type === "sticker") {
      return h("a", { href: url, target: "_blank", rel: "noopener noreferrer", class: "media" },
        h("img", { src: url, alt: t("media_link", md.type), loading: "lazy" }));
    }
    return h("a", { href: url, target: "_blank", rel: "noopener noreferrer", class: "media link" }, t("media_link", md.type));
  }

  function noteEl(s, n) {
    const mine = n.author && n.author.type === "agent" && n.author.id === app.me.id;
    const may = mine || app.isManager;
    const edited = n.tm_update && n.tm_update !== n.tm_create;
    const head = h("header", {},
      h("span", { class: "who" }, t("note_by", n.author && n.author.type === "agent" ? app.agentName(n.author.id) : t("sender_api"))),
      h("time", { datetime: n.tm_create, title: long(n.tm_create) }, short(n.tm_create)),
      edited ? h("span", { class: "edited" }, t("edited")) : null);
    if (s.editing === n.id) {
      const ta = h("textarea", { class: "note-edit", "aria-label": t("edit") });
      ta.value = n.text;
      const save = async () => {
        try {
          const got = await put("/v1.0/notes/" + n.id, { text: ta.value });
          s.notes.set(got.id, got);
          s.editing = "";
          renderTimeline(s, {});
        } catch (e) {
          notice(s, t("error", e.message));
        }
      };
      ta.addEventListener("keydown", (e) => {
        if (e.key === "Enter" && !e.shiftKey && !e.isComposing) { e.preventDefault(); save(); }
        if (e.key === "Escape") { s.editing = ""; renderTimeline(s, {}); }
      });
      queueMicrotask(() => ta.focus());
      return h("article", { class: "note", dataset: { id: n.id } }, head, ta,
        h("div", { class: "note-actions" },
          h("button", { type: "button", onclick: save }, t("save")),
          h("button", { type: "button", onclick: () => { s.editing = ""; renderTimeline(s, {}); } }, t("cancel"))));
    }
    return h("article", { class: "note", dataset: { id: n.id } }, head,
      h("p", { class: "text" }, n.text),
      may ? h("div", { class: "note-actions" },
        h("button", { type: "button", class: "edit", onclick: () => { s.editing = n.id; renderTimeline(s, {}); } }, t("edit")),
        h("button", { type: "button", class: "delete", onclick: () => deleteNote(s, n) },
          s.deleting === n.id ? t("confirm_delete") : t("delete"))) : null);
  }

  async function deleteNote(s, n) {
    if (s.deleting !== n.id) {
      s.deleting = n.id;
      renderTimeline(s, {});
      return;
    }
    try {
      await del("/v1.0/notes/" + n.id);
      s.notes.delete(n.id);
    } catch (e) {
      notice(s, t("error", e.message));
    }
    s.deleting = "";
    renderTimeline(s, {});
  }

  let tmp = 0;
  // send shows the message at once as progressing; the answer and the
  // stream move it on.
  async function send(s, body, preview) {
    const local = { id: "local-" + ++tmp, conversation_id: s.id, direction: "outgoing", status: "progressing",
      text: preview, medias: [], tm_create: new Date().toISOString(), _mine: true };
    s.messages.set(local.id, local);
    renderTimeline(s, { bottom: true });
    try {
      const m = await post(`/v1.0/conversations/${s.id}/messages`, body);
      app.sentByMe.add(m.id);
      s.messages.delete(local.id);
      take(s, m);
      app.list.message(m);
    } catch (e) {
      local.status = "failed";
      local._error = e instanceof APIError ? e.message : String(e);
    }
    renderTimeline(s, {});
  }

  // take keeps the furthest state of a message: statuses only move on, and
  // so does the provider's word (a late answer must not undo a read).
  function take(s, m) {
    const old = s.messages.get(m.id);
    if (old && (RANK[old.status] > RANK[m.status] ||
      (old.status === m.status && (PRANK[old.provider_status] || 0) > (PRANK[m.provider_status] || 0)))) return;
    s.messages.set(m.id, m);
  }

  async function addNote(s, text) {
    try {
      const n = await post(`/v1.0/conversations/${s.id}/notes`, { text });
      s.notes.set(n.id, n);
      renderTimeline(s, { bottom: true });
      return true;
    } catch (e) {
      notice(s, t("error", e.message));
      return false;
    }
  }

  // markRead tells the server that the newest message is read (its other
  // tabs learn it from the stream), and the list that nothing is unread.
  function markRead(s) {
    if (document.visibilityState !== "visible") return;
    const newest = [...s.messages.values()].filter((m) => !m.id.startsWith("local-"))
      .sort((a, b) => at(b) - at(a))[0];
    app.list.read(s.id, 0);
    if (newest) post(`/v1.0/conversations/${s.id}/read`, { message_id: newest.id }).catch(() => {});
  }

  // event applies a stream event to the open conversation.
  function event(e) {
    const s = cur;
    if (!s || !s.conv) return;
    const d = e.data || {};
    switch (e.type) {
      case "conversation_message_created":
      case "conversation_message_updated":
        if (d.conversation_id !== s.id) return;
        take(s, d);
        renderTimeline(s, {});
        if (e.type === "conversation_message_created" && d.direction === "incoming") {
          markRead(s);
          s.conv = opened(s.conv, d);
          paintWindow(s);
        }
        break;
      case "conversation_note_created":
      case "conversation_note_updated":
        if (d.conversation_id !== s.id) return;
        s.notes.set(d.id, d);
        if (s.editing !== d.id) renderTimeline(s, {});
        break;
      case "conversation_note_deleted":
        if (d.conversation_id !== s.id) return;
        s.notes.delete(d.id);
        renderTimeline(s, {});
        break;
      case "conversation_updated":
      case "conversation_deleted":
        // An event's unread_count is nobody's: the page keeps its own.
        if (d.id === s.id) changed(s, (({ unread_count: _, ...rest }) => rest)(d));
        break;
    }
  }

  // lost closes conversation id, if open, saying why: it left the agent's view.
  function lost(id) {
    if (!cur || cur.id !== id) return;
    cur = null;
    pane.replaceChildren(h("p", { class: "empty notice", role: "status" }, t("conversation_left")));
  }

  // lostUnassigned closes the open conversation if it is in the queue that closed.
  function lostUnassigned() {
    if (cur && cur.conv && cur.conv.owner_type !== "agent") lost(cur.id);
  }

  document.addEventListener("visibilitychange", () => cur && cur.conv && markRead(cur));

  return { open, close, event, lost, lostUnassigned, current: () => cur, resolve: () => cur && cur.head && cur.head.querySelector(".resolve")?.click(),
    focusComposer: () => cur && cur.composer && cur.composer.querySelector("textarea")?.focus() };
}
