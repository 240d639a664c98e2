// Media convo holds are shown from convo's own URL, signed for a while so
// that an <img> or a link needs no credential (the token never leaves the
// Authorization header). A pending medium shows as pending until its
// conversation_message_updated event says it is stored.
import { get } from "./api.js";
import { h } from "./dom.js";
import { parseTime } from "./fmt.js";
import { t } from "./i18n.js";

// signed caches each medium's signed URL until shortly before it expires.
const signed = new Map();
const MARGIN = 60 * 1000;

function signedURL(id) {
  const hit = signed.get(id);
  if (hit && hit.until > Date.now()) return hit.url;
  const url = get(`/v1.0/medias/${id}/signed_url`).then((r) => {
    const exp = parseTime(r.tm_expire);
    signed.set(id, { url: Promise.resolve(r.url), until: (exp ? exp.getTime() : Date.now()) - MARGIN });
    return r.url;
  });
  signed.set(id, { url, until: Date.now() + MARGIN });
  url.catch(() => signed.delete(id));
  return url;
}

// heldMediaEl renders a medium convo holds, or null for one it only links to.
export function heldMediaEl(md) {
  if (md.status === "pending") {
    return h("span", { class: "media pending", dataset: { media: md.id } }, t("media_pending", md.type));
  }
  if (md.status === "failed") {
    const why = md.error ? md.error.message : "";
    return h("span", { class: "media failed", title: why, dataset: { media: md.id } }, t("media_failed", md.type));
  }
  if (md.status !== "stored" || !md.id) return null;
  const image = md.type === "image" || md.type === "sticker";
  const img = image ? h("img", { alt: t("media_link", md.type), loading: "lazy" }) : null;
  const a = h("a", { target: "_blank", rel: "noopener noreferrer", class: image ? "media" : "media link", dataset: { media: md.id } },
    img || t("media_link", md.type));
  signedURL(md.id).then((url) => {
    a.href = url;
    if (img) img.src = url;
  }, () => a.classList.add("failed"));
  return a;
}
