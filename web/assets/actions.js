// What an agent does to a conversation: take, assign, unassign; resolve,
// reopen and snooze; labels.
import { get, post, put, APIError } from "./api.js";
import { h } from "./dom.js";
import { t } from "./i18n.js";
import { long, toAPI } from "./fmt.js";
import { labelChip } from "./list.js";

const NIL = "00000000-0000-0000-0000-000000000000";

export function renderActions(app, c, { notice, changed }) {
  const owned = c.owner_type === "agent" && c.owner_id && c.owner_id !== NIL;
  const mayChange = app.isManager || (owned && c.owner_id === app.me.id);

  async function act(fn) {
    notice("");
    try {
      changed(await fn());
    } catch (e) {
      if (e instanceof APIError && e.reason === "ALREADY_ASSIGNED") {
        notice(t("already_assigned"));
        // Show who has it now; gone from sight, it leaves the list.
        get("/v1.0/conversations/" + c.id).then(changed, () => app.list.remove(c.id));
      } else if (e instanceof APIError && e.reason === "UNKNOWN_LABEL") notice(t("unknown_label"));
      else notice(t("error", e.message));
    }
  }

  const take = () => act(() => post(`/v1.0/conversations/${c.id}/take`));
  const setStatus = (status, until) => act(() => post(`/v1.0/conversations/${c.id}/status`,
    until ? { status, snoozed_until: toAPI(until) } : { status }));

  const out = h("div", { class: "actions" },
    h("span", { class: "owner" }, owned ? t("owner", app.agentName(c.owner_id)) : t("unowned")));

  if (!owned) out.append(h("button", { type: "button", class: "take primary", onclick: take }, t("take")));
  if (app.isManager) {
    const sel = h("select", { class: "assign", "aria-label": t("assign") },
      h("option", { value: "" }, t("assign")),
      [...app.agents.values()].filter((a) => a.id !== c.owner_id)
        .map((a) => h("option", { value: a.id }, a.name || a.username)));
    sel.addEventListener("change", () => sel.value && act(() => put("/v1.0/conversations/" + c.id, { owner_id: sel.value })));
    out.append(sel);
  }
  if (owned && mayChange) {
    out.append(h("button", { type: "button", class: "unassign", onclick: () => act(() => post(`/v1.0/conversations/${c.id}/unassign`)) }, t("unassign")));
  }

  out.append(h("span", { class: "state " + c.status }, c.status === "snoozed" && c.snoozed_until
    ? t("snoozed_until", long(c.snoozed_until)) : t("conv_" + c.status)));
  if (mayChange) {
    if (c.status !== "open") {
      out.append(h("button", { type: "button", class: "reopen", onclick: () => setStatus("open") }, t("reopen")));
    }
    if (c.status !== "resolved") {
      out.append(h("button", { type: "button", class: "resolve", onclick: () => setStatus("resolved") }, t("resolve")));
    }
    out.append(snoozeMenu((until) => setStatus("snoozed", until)));
  }

  out.append(labelEditor(app, c, mayChange, (labels) =>
    act(() => put(`/v1.0/conversations/${c.id}/labels`, { labels }))));
  return out;
}

// snoozeTimes are the presets, in the browser's time zone.
export function snoozeTimes(now = new Date()) {
  const hour = new Date(now.getTime() + 3600e3);
  const tomorrow = new Date(now.getFullYear(), now.getMonth(), now.getDate() + 1, 9, 0);
  const days = ((8 - now.getDay()) % 7) || 7; // the next Monday
  const week = new Date(now.getFullYear(), now.getMonth(), now.getDate() + days, 9, 0);
  return { hour, tomorrow, week };
}

function snoozeMenu(snooze) {
  const p = snoozeTimes();
  const custom = h("input", { type: "datetime-local", "aria-label": t("snooze_custom") });
  const item = (key, at) => h("button", { type: "button", title: long(at), onclick: () => snooze(at) }, t(key));
  return h("details", { class: "snooze" }, h("summary", {}, t("snooze")),
    h("div", { class: "popup" },
      item("snooze_hour", p.hour), item("snooze_tomorrow", p.tomorrow), item("snooze_week", p.week),
      h("label", {}, t("snooze_custom"), custom),
      h("button", { type: "button", onclick: () => custom.value && snooze(new Date(custom.value)) }, t("snooze"))));
}

function labelEditor(app, c, may, save) {
  const wrap = h("div", { class: "labels", "aria-label": t("labels") },
    c.labels.map((l) => labelChip(app, l,
      may ? h("button", { type: "button", class: "x", "aria-label": t("remove_label", l),
        onclick: () => save(c.labels.filter((x) => x !== l)) }, "×") : null)));
  if (may) {
    const input = h("input", { class: "add-label", list: "label-names", placeholder: t("add_label"), "aria-label": t("add_label") });
    input.addEventListener("keydown", (e) => {
      const v = input.value.trim();
      if (e.key === "Enter" && v) {
        e.preventDefault();
        if (!c.labels.includes(v)) save([...c.labels, v]);
      }
    });
    wrap.append(input, h("datalist", { id: "label-names" }, app.labels.map((l) => h("option", { value: l.name }))));
  }
  return wrap;
}
