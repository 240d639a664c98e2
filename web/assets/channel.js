// What the providers' rules mean for the open conversation: how LINE got a
// message (a free reply or a push that counts against the quota), an SMS
// peer who opted out (STOP), and a LINE account's monthly quota.
import { get } from "./api.js";
import { h } from "./dom.js";
import { t } from "./i18n.js";

// sendMethodEl marks an outgoing LINE message with how LINE got it.
export function sendMethodEl(m) {
  const how = m.line_send_method;
  if (m.direction !== "outgoing" || (how !== "reply" && how !== "push")) return null;
  return h("span", { class: "via " + how, title: t("via_" + how + "_title") }, t("via_" + how));
}

// optOutReason is why the composer cannot send on conv; "" when it can.
export function optOutReason(conv) {
  return conv && conv.peer_opted_out ? t("peer_opted_out") : "";
}

// quotaEl shows a LINE account's quota in the thread's head to those who
// may read it (admins and managers); it fills in when LINE answers.
export function quotaEl(app, conv) {
  if (!app.isManager || conv.type !== "line") return null;
  const el = h("span", { class: "quota", role: "status", hidden: true });
  get(`/v1.0/conversation_accounts/${conv.account_id}/quota`).then((q) => {
    el.textContent = q.type === "limited"
      ? t("quota_limited", q.total_usage, q.value)
      : t("quota_none", q.total_usage);
    el.classList.toggle("spent", q.type === "limited" && q.total_usage >= q.value);
    el.hidden = false;
  }).catch(() => {});
  return el;
}
