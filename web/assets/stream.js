// The realtime stream: one WebSocket, its token offered as a subprotocol
// (never in the URL), reopened after any close with the id of the last
// event seen as since, so nothing that happened meanwhile is missed.
import { token } from "./api.js";

export class Stream {
  constructor({ onEvent, onState, onGap }) {
    this.onEvent = onEvent;
    this.onState = onState; // "live" | "reconnecting"
    this.onGap = onGap; // reopened without a since: the caller reloads
    this.since = "";
    this.failures = 0;
    this.stopped = false;
    this.everOpen = false;
  }

  start() {
    this.stopped = false;
    this.open();
    this.wake = () => this.ws && this.ws.readyState !== WebSocket.OPEN ? this.reopenNow() : null;
    addEventListener("online", this.wake);
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    removeEventListener("online", this.wake);
    if (this.ws) this.ws.close(1000);
  }

  open() {
    const url = new URL("/v1.0/ws", location.href);
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    // A since the server no longer knows fails the handshake: after a few
    // failures start from now and let the page reload what it shows.
    if (this.since && this.failures < 3) url.searchParams.set("since", this.since);
    const resumed = url.searchParams.has("since");
    const ws = new WebSocket(url, ["convo", "convo.token." + token.get()]);
    this.ws = ws;
    let opened = false;
    ws.onopen = () => {
      opened = true;
      this.failures = 0;
      if (this.everOpen && !resumed) this.onGap();
      this.everOpen = true;
      this.onState("live");
    };
    ws.onmessage = (m) => {
      let e;
      try {
        e = JSON.parse(m.data);
      } catch {
        return;
      }
      this.since = e.id;
      this.onEvent(e);
    };
    ws.onclose = () => {
      if (this.ws !== ws || this.stopped) return;
      if (!opened) this.failures++;
      this.onState("reconnecting", !opened);
      const wait = Math.min(10000, 500 * 2 ** Math.min(this.failures, 5));
      this.timer = setTimeout(() => this.open(), wait);
    };
  }

  reopenNow() {
    clearTimeout(this.timer);
    this.open();
  }
}
