// NIP-46 remote signer logins (DESIGN.md §11): a `bunker://` link, or a `nostrconnect://`
// pairing the portal shows. The client key is ephemeral and lives in WebAssembly
// (Nip46Client), which also builds, encrypts, opens and checks every message; this file only
// carries kind 24133 events over the practice relay. The patient's key stays in the signer.
import { Nip46Client } from "/assets/ehr_web_wasm.js";
import { filter } from "/protocol.js";
import { connectRelay } from "/relay.js";
import { LoginError } from "/signers.js";

const SUBSCRIPTION = "nip46";
// A person may have to approve in the signer app: connecting waits longer than a decrypt.
const CONNECT_TIMEOUT_MS = 120000;
const REQUEST_TIMEOUT_MS = 60000;
const now = () => Math.floor(Date.now() / 1000);

// One relay connection as the client key: a subscription to messages for it, requests out,
// responses matched by id. One reader (pump) takes every message the relay sends.
class Channel {
  static async open(url, client) {
    const auth = {
      publicKey: client.publicKey(),
      signEvent: async (template) => JSON.parse(client.signEvent(JSON.stringify(template))),
    };
    // Only signer messages go over this channel: no page size to learn (and a bunker's relay
    // need not be one the portal's CSP names).
    const relay = await connectRelay(url, auth, { nip11: false });
    const channel = new Channel(relay, client);
    relay.send(["REQ", SUBSCRIPTION, { ...filter("signer", [client.publicKey()]), since: now() - 10 }]);
    channel.pump();
    await channel.ready;
    return channel;
  }

  constructor(relay, client) {
    this.relay = relay;
    this.client = client;
    this.pending = new Map(); // request id -> {method, resolve, reject, event id}
    this.pairWaiters = [];
    this.ended = null;
    this.ready = new Promise((resolve, reject) => { this.readyNow = resolve; this.readyFailed = reject; });
  }

  async pump() {
    while (!this.ended) {
      let message;
      try {
        message = await this.relay.next(() => true);
      } catch (error) {
        if (this.relay.closed) return this.fail(new Error("the connection to the relay closed"));
        continue; // nothing within the answer timeout: keep listening
      }
      this.take(message);
    }
  }

  take(message) {
    const [type, sub] = message;
    if (type === "EOSE" && sub === SUBSCRIPTION) this.readyNow();
    if (type === "CLOSED" && sub === SUBSCRIPTION) {
      this.fail(new Error(`the relay refused the signer subscription (${message[2]})`));
    }
    if (type === "OK" && message[2] === false) {
      for (const [id, request] of this.pending) {
        if (request.eventId === sub) {
          this.pending.delete(id);
          request.reject(new Error(`the relay refused the request to your signer (${message[3]})`));
        }
      }
    }
    if (type !== "EVENT" || sub !== SUBSCRIPTION) return;
    let opened;
    try {
      opened = JSON.parse(this.client.open(JSON.stringify(message[2])));
    } catch {
      return; // not for this login (a stranger, a forgery, a request): ignored
    }
    if (opened.paired) {
      for (const waiter of this.pairWaiters.splice(0)) waiter.resolve();
      return;
    }
    const request = this.pending.get(opened.id);
    if (!request) return;
    if (opened.result === "auth_url") return; // the signer asks the person first; keep waiting
    this.pending.delete(opened.id);
    if (opened.error || opened.result == null) {
      request.reject(new LoginError("Your signer refused the request. "
        + "Approve the portal in your signer app, or log in another way."));
    } else {
      request.resolve(opened.result);
    }
  }

  fail(error) {
    if (this.ended) return;
    this.ended = error;
    this.readyFailed(error);
    for (const request of this.pending.values()) request.reject(error);
    this.pending.clear();
    for (const waiter of this.pairWaiters.splice(0)) waiter.reject(error);
  }

  // Send `method(params)` to the signer: a promise of its result (a string).
  call(method, params, timeout = REQUEST_TIMEOUT_MS) {
    if (this.ended) return Promise.reject(this.ended);
    const { id, event } = JSON.parse(this.client.request(method, JSON.stringify(params), now()));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new LoginError("Your signer did not answer. Check that it is running and "
          + "connected to your practice's relay, or log in another way."));
      }, timeout);
      this.pending.set(id, {
        method,
        eventId: event.id,
        resolve: (value) => { clearTimeout(timer); resolve(value); },
        reject: (error) => { clearTimeout(timer); reject(error); },
      });
      this.relay.send(["EVENT", event]);
    });
  }

  // Until a signer echoes the pairing secret (Nip46Client.open decides), or `signal` aborts.
  paired(signal) {
    return new Promise((resolve, reject) => {
      const waiter = { resolve, reject };
      this.pairWaiters.push(waiter);
      signal?.addEventListener("abort", () => reject(new LoginError("Pairing cancelled.")), { once: true });
    });
  }

  close() {
    // Requests still waiting end now, with the session.
    this.fail(new Error("the session is locked"));
    try {
      this.relay.send(["CLOSE", SUBSCRIPTION]);
    } catch {
      // already closed
    }
    this.relay.close();
    this.client.free();
  }
}

// The signer interface over a connected channel whose signer holds `user`'s key.
async function remoteSigner(channel) {
  const user = channel.client.check("get_public_key", await channel.call("get_public_key", []));
  let open = true;
  const call = (method, params) => {
    if (!open) return Promise.reject(new Error("the session is locked"));
    return channel.call(method, params);
  };
  return {
    method: "nip46",
    publicKey: user,
    key: null,
    signEvent: async (template) => JSON.parse(channel.client.check(
      "sign_event", await call("sign_event", [JSON.stringify({ ...template, pubkey: user })]), user)),
    nip44: {
      encrypt: (peer, plaintext) => call("nip44_encrypt", [peer, plaintext]),
      decrypt: (peer, payload) => call("nip44_decrypt", [peer, payload]),
    },
    close() {
      if (open) {
        open = false;
        channel.close();
      }
    },
  };
}

async function withChannel(relay, client, use) {
  let channel;
  try {
    channel = await Channel.open(relay, client);
  } catch (error) {
    client.free();
    throw error;
  }
  try {
    return await use(channel);
  } catch (error) {
    channel.close();
    throw error;
  }
}

// Log in through a `bunker://` link, over `practiceRelay` when the link names it (else the
// link's first relay).
export async function bunkerSigner(uri, practiceRelay) {
  const client = new Nip46Client();
  let info;
  try {
    info = JSON.parse(client.bunker(uri));
  } catch (error) {
    client.free();
    throw new LoginError(`${error.message.charAt(0).toUpperCase()}${error.message.slice(1)}.`);
  }
  const relay = info.relays.find((r) => r.replace(/\/$/, "") === practiceRelay.replace(/\/$/, ""))
    ?? info.relays[0];
  return withChannel(relay, client, async (channel) => {
    await channel.call("connect", info.connect, CONNECT_TIMEOUT_MS);
    return remoteSigner(channel);
  });
}

// Pair a signer app: `show(uri)` displays the `nostrconnect://` URI for `relay`; resolves
// once the signer connects (and echoes the URI's secret).
export async function pairSigner(relay, signal, show) {
  const client = new Nip46Client();
  let uri;
  try {
    uri = client.nostrConnectUri(relay, "Patient portal");
  } catch (error) {
    client.free();
    throw new LoginError(`${error.message.charAt(0).toUpperCase()}${error.message.slice(1)}.`);
  }
  return withChannel(relay, client, async (channel) => {
    const paired = channel.paired(signal);
    show(uri);
    await paired;
    return remoteSigner(channel);
  });
}
