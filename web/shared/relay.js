// A NIP-01 relay connection for the portal: NIP-42 login, paged fetches, publishing.
// Shared by every part of the app (DESIGN.md §11).

import { Reconciliation, authTemplate } from "/assets/ehr_web_wasm.js";

// Below any relay's usual max_limit (ours is 5,000), so a short page means the end.
const PAGE = 500;
// A relay that stops answering gets a clear error rather than a page that spins forever.
const ANSWER_TIMEOUT_MS = 20000;

// An error saying the relay could not be reached or stopped answering (not a refusal): its
// `unreachable` is true, so an app may fall back on what the device kept.
function unreachable(message) {
  const error = new Error(message);
  error.unreachable = true;
  return error;
}

// NIP-42: `signer`'s AUTH event for `relay`'s `challenge` (the template is the core's).
export function signAuth(signer, relay, challenge) {
  const now = Math.floor(Date.now() / 1000);
  return signer.signEvent(JSON.parse(authTemplate(signer.publicKey, relay, challenge, now)));
}

// The page size for `url`: its NIP-11 `limitation.max_limit` (fewer round trips for a long
// chart), or PAGE when the document cannot be read.
const pageSizes = new Map();
async function relayPageSize(url) {
  if (!pageSizes.has(url)) {
    let page = PAGE;
    try {
      const info = await fetch(url.replace(/^ws/, "http"), {
        headers: { Accept: "application/nostr+json" },
        credentials: "omit",
      }).then((r) => (r.ok ? r.json() : null));
      const max = info?.limitation?.max_limit;
      if (Number.isInteger(max) && max >= 10) page = Math.min(max, 5000);
    } catch {
      // No NIP-11 (or not allowed by the CSP): the default page still works.
    }
    pageSizes.set(url, page);
  }
  return pageSizes.get(url);
}

// Open `url` and log in (NIP-42) as `signer` (signers.js): the Relay, ready for requests.
// `nip11: false` skips the NIP-11 page size, for a relay the portal's CSP does not name (another
// practice's, when she shares her records there): the default page serves a few requests.
export async function connectRelay(url, signer, { nip11 = true } = {}) {
  const [relay, page] = await Promise.all([Relay.open(url), nip11 ? relayPageSize(url) : PAGE]);
  relay.page = page;
  try {
    await relay.authenticate((challenge) => signAuth(signer, url, challenge));
    return relay;
  } catch (error) {
    relay.close();
    throw error;
  }
}

export class Relay {
  static open(url) {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url);
      // A relay that never answers the handshake gets the same clear error as one that refuses.
      const timer = setTimeout(() => {
        ws.close();
        reject(unreachable("the relay could not be reached"));
      }, ANSWER_TIMEOUT_MS);
      ws.addEventListener("open", () => { clearTimeout(timer); resolve(new Relay(ws)); }, { once: true });
      ws.addEventListener("error", () => {
        clearTimeout(timer);
        reject(unreachable("the relay could not be reached"));
      }, { once: true });
    });
  }

  constructor(ws) {
    this.ws = ws;
    this.inbox = [];
    // Everyone waiting for a message: several requests may share one connection.
    this.waiters = new Set();
    this.closed = null;
    this.subscriptions = 0;
    this.page = PAGE;
    // Live subscriptions' handlers by subscription id: their messages bypass the inbox.
    this.routes = new Map();
    ws.addEventListener("message", (message) => {
      let parsed;
      try {
        parsed = JSON.parse(message.data);
      } catch {
        return;
      }
      const route = this.routes.get(parsed[1]);
      if (route) {
        route(parsed);
        return;
      }
      this.inbox.push(parsed);
      this.wakeAll();
    });
    ws.addEventListener("close", () => {
      this.closed = unreachable("the relay closed the connection");
      this.wakeAll();
    });
  }

  wakeAll() {
    for (const wake of [...this.waiters]) wake();
  }

  send(message) {
    this.ws.send(JSON.stringify(message));
  }

  // The next message `wanted` accepts; messages nobody waits for are left in the inbox.
  async next(wanted) {
    const deadline = Date.now() + ANSWER_TIMEOUT_MS;
    for (;;) {
      const index = this.inbox.findIndex(wanted);
      if (index >= 0) return this.inbox.splice(index, 1)[0];
      if (this.closed) throw this.closed;
      const left = deadline - Date.now();
      if (left <= 0) throw unreachable("the relay did not answer in time");
      await new Promise((resolve) => {
        const wake = () => {
          clearTimeout(timer);
          this.waiters.delete(wake);
          resolve();
        };
        const timer = setTimeout(wake, left);
        this.waiters.add(wake);
      });
    }
  }

  // NIP-42: answer the relay's challenge with the AUTH event `sign(challenge)` returns
  // (an event object, or a promise of one).
  async authenticate(sign) {
    const [, challenge] = await this.next((m) => m[0] === "AUTH" && typeof m[1] === "string");
    const event = await sign(challenge);
    this.send(["AUTH", event]);
    const [, , accepted, reason] = await this.next((m) => m[0] === "OK" && m[1] === event.id);
    if (!accepted) throw new Error(`the relay refused the login (${reason})`);
  }

  // Every event matching `filter`, newest first, paged with `until`. Events of the second a
  // page ends on come again on the next page and are kept once.
  async fetchAll(filter) {
    const events = new Map();
    let until;
    for (;;) {
      const id = `q${++this.subscriptions}`;
      this.send(["REQ", id, { ...filter, limit: this.page, ...(until === undefined ? {} : { until }) }]);
      let count = 0;
      let fresh = 0;
      let oldest = Infinity;
      for (;;) {
        const message = await this.next((m) => ["EVENT", "EOSE", "CLOSED"].includes(m[0]) && m[1] === id);
        if (message[0] === "EOSE") break;
        if (message[0] === "CLOSED") throw new Error(`the relay refused the request (${message[2]})`);
        const event = message[2];
        count += 1;
        oldest = Math.min(oldest, event.created_at);
        if (!events.has(event.id)) {
          events.set(event.id, event);
          fresh += 1;
        }
      }
      this.send(["CLOSE", id]);
      if (count < this.page) return [...events.values()];
      if (fresh === 0) throw new Error("the relay holds more events in one second than a page");
      until = oldest;
    }
  }

  // Publish a signed event; resolves when the relay accepts it, throws with its reason (the
  // error's `refused`: a refusal, as opposed to a relay that could not be reached).
  async publish(event) {
    this.send(["EVENT", event]);
    const [, , accepted, reason] = await this.next((m) => m[0] === "OK" && m[1] === event.id);
    if (!accepted) {
      const error = new Error(`the relay refused the event (${reason})`);
      error.refused = String(reason ?? "");
      throw error;
    }
  }

  // NIP-77: the events matching `filter` that `held` (the events at hand for it) lacks,
  // learnt by negentropy (ehr_client::reconcile) and then fetched by id; null when the relay
  // answers NEG-ERR (then fetch the filter whole).
  async missing(filter, held) {
    const session = new Reconciliation(JSON.stringify(held));
    const id = `n${++this.subscriptions}`;
    const need = [];
    try {
      this.send(["NEG-OPEN", id, filter, session.initial()]);
      for (;;) {
        const message = await this.next((m) => ["NEG-MSG", "NEG-ERR"].includes(m[0]) && m[1] === id);
        if (message[0] === "NEG-ERR") return null;
        const step = JSON.parse(session.step(message[2]));
        need.push(...step.need);
        if (!step.next) break;
        this.send(["NEG-MSG", id, step.next]);
      }
      this.send(["NEG-CLOSE", id]);
    } finally {
      session.free();
    }
    const events = [];
    for (let start = 0; start < need.length; start += this.page) {
      events.push(...await this.fetchAll({ ids: need.slice(start, start + this.page) }));
    }
    return events;
  }

  // A live subscription: `onEvent(event)` for each event matching `filter` stored from now on
  // (none already stored: `limit: 0`); returns close().
  live(filter, onEvent) {
    const id = `l${++this.subscriptions}`;
    this.routes.set(id, (message) => {
      if (message[0] === "EVENT") onEvent(message[2]);
    });
    this.send(["REQ", id, { ...filter, limit: 0 }]);
    return () => {
      this.routes.delete(id);
      if (this.ws.readyState === WebSocket.OPEN) this.send(["CLOSE", id]);
    };
  }

  close() {
    this.ws.close();
  }
}

// One authenticated connection to the practice relay for the whole session, shared by the chart
// and every tab; opened again (with a new NIP-42 login) only if it dropped. `relay.close()` ends it.
export function sessionRelay(connection, signer) {
  let opening = null;
  const relay = async () => {
    const open = opening && await opening.catch(() => null);
    if (open && !open.closed) return open;
    opening = connectRelay(connection.relay, signer);
    return opening;
  };
  relay.close = () => {
    const closing = opening;
    opening = null;
    closing?.then((open) => open.close(), () => {});
  };
  return relay;
}
