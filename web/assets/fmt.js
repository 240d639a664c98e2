// Times: the API writes UTC, as "2022-06-23 05:05:40.950834" (seed) or
// RFC 3339; "9999-..." or null means "not yet". They are shown in the
// browser's own language and time zone.
export function parseTime(s) {
  if (!s || s.startsWith("9999")) return null;
  let iso = s.includes("T") ? s : s.replace(" ", "T");
  iso = iso.replace(/(\.\d{3})\d+/, "$1");
  if (!/[zZ]|[+-]\d\d:?\d\d$/.test(iso)) iso += "Z";
  const d = new Date(iso);
  return isNaN(d) ? null : d;
}

const timeOnly = new Intl.DateTimeFormat(undefined, { hour: "numeric", minute: "2-digit" });
const dateOnly = new Intl.DateTimeFormat(undefined, { month: "short", day: "numeric" });
const full = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

// short is a list's time: the hour today, else the date.
export function short(s) {
  const d = typeof s === "string" ? parseTime(s) : s;
  if (!d) return "";
  const now = new Date();
  return d.toDateString() === now.toDateString() ? timeOnly.format(d) : dateOnly.format(d);
}

export function long(s) {
  const d = typeof s === "string" ? parseTime(s) : s;
  return d ? full.format(d) : "";
}

// toAPI writes a Date as RFC 3339, which the API accepts on input.
export const toAPI = (d) => d.toISOString();
