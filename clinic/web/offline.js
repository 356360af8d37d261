// The clinic app offline (DESIGN.md §12, issue 21): a device cache and an outbox, both sealed.
//
// What the member opened (the key events, the patient list's events, each chart's events) is
// kept in IndexedDB so she keeps working when the relay cannot be reached. Nothing is in clear
// there: each entry is sealed in WebAssembly (ehr_client::local_cache, AES-256-GCM) under a
// random key made for this device and login, itself sealed with NIP-44 to her own key through
// her signer, so only her login opens it; entries sit under opaque ids. The events are the
// relay's (their content already NIP-44), sealed again with their metadata.
//
// Writes go through the outbox: each signed event is stored (sealed) as pending before it is
// sent, then marked accepted or refused with the relay's reason when the relay answers. While
// the relay cannot be reached they wait, and are sent in order when it can be again, each once
// (a signed event keeps its id, so a resend after a lost OK is a duplicate the relay
// recognises). A refused event stays listed with its reason until she dismisses it: never
// retried forever, never dropped in silence.
//
// Logout and the inactivity lock wipe the cache; an outbox with unsent events stays, sealed,
// and is sent at her next login on this device.
import { LocalCache } from "/assets/ehr_web_wasm.js";

const DB = "nostr-ehr-clinic";
const STORE = "entries";
// How often the app tries the relay again while it is unreachable or events wait.
export const RETRY_MS = 3000;

function request(req) {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error ?? new Error("this browser's storage failed"));
  });
}

let opened = null;
function database() {
  opened ??= new Promise((resolve, reject) => {
    const req = indexedDB.open(DB, 1);
    req.onupgradeneeded = () => req.result.createObjectStore(STORE);
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => { opened = null; reject(req.error ?? new Error("this browser's storage is unavailable")); };
  });
  return opened;
}

async function store(mode) {
  return (await database()).transaction(STORE, mode).objectStore(STORE);
}

// The login's slot: where her sealed cache key is kept (her key and practice, hashed).
async function loginSlot(practice, pubkey) {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(`${practice}:${pubkey}`));
  return `login:${[...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("")}`;
}

// Whether `error` means the relay could not be reached (then the device's copy serves), as
// opposed to a refusal (a revoked key, a refused event), which the member must see.
export function unreachable(error) {
  return error?.unreachable === true;
}

// The device cache of one login: entries sealed under its key.
export class DeviceCache {
  // Open (or make) the cache of `signer` (signers.js) for `practice` (hex root).
  static async open(practice, signer) {
    const slot = await loginSlot(practice, signer.publicKey);
    const sealed = await request((await store("readonly")).get(slot));
    let cache = null;
    if (sealed) {
      try {
        cache = LocalCache.fromHex(await signer.nip44.decrypt(signer.publicKey, sealed));
      } catch {
        cache = null; // another key's seal, or damaged: start afresh
      }
    }
    if (!cache) {
      cache = LocalCache.generate();
      const seal = await signer.nip44.encrypt(signer.publicKey, cache.keyHex());
      await request((await store("readwrite")).put(seal, slot));
    }
    return new DeviceCache(cache, slot);
  }

  constructor(cache, slot) {
    this.cache = cache;
    this.slot = slot;
  }

  // The value stored as `name`, or null (none, or not this login's).
  async read(name) {
    const sealed = await request((await store("readonly")).get(this.cache.entryId(name)));
    if (!sealed) return null;
    try {
      return JSON.parse(this.cache.open(name, sealed));
    } catch {
      return null;
    }
  }

  // Store `value` (JSON) as `name`, sealed.
  async write(name, value) {
    const sealed = this.cache.seal(name, JSON.stringify(value));
    await request((await store("readwrite")).put(sealed, this.cache.entryId(name)));
  }

  // Delete every entry but the logins' seals and this login's outbox; then forget the key.
  async wipe() {
    const keep = this.cache.entryId("outbox");
    const entries = await store("readwrite");
    const keys = await request(entries.getAllKeys());
    await Promise.all(keys.filter((k) => !String(k).startsWith("login:") && k !== keep)
      .map((k) => request(entries.delete(k))));
    this.close();
  }

  close() {
    this.cache?.free();
    this.cache = null;
  }
}

// The outbox of one login: `{event, patient, label, status, reason, at}` in order, kept in
// `device` as "outbox"; `relay()` gives the open relay (sessionRelay); `changed()` is told.
export class Outbox {
  static async open(device, relay, changed = () => {}) {
    return new Outbox(device, relay, (await device.read("outbox")) ?? [], changed);
  }

  constructor(device, relay, entries, changed) {
    this.device = device;
    this.relay = relay;
    this.entries = entries;
    this.changed = changed;
    this.sending = null;
    this.online = true;
    // Why nothing can be sent though the relay answers (it refused the login), or "".
    this.problem = "";
  }

  // The relay answered (`error` null) or failed with `error`: online or not, and why not.
  reached(error) {
    this.online = !error || !unreachable(error);
    this.problem = error && this.online ? String(error?.message ?? error) : "";
    this.changed(this);
  }

  async save() {
    await this.device.write("outbox", this.entries);
    this.changed(this);
  }

  pending() {
    return this.entries.filter((e) => e.status === "pending");
  }

  // The events waiting or sent for `patient` (hex), for her chart meanwhile.
  eventsFor(patient) {
    return this.entries.filter((e) => e.patient === patient && e.status !== "refused").map((e) => e.event);
  }

  // Keep `event` (about `patient`, described by `label`) and send it with what waits before
  // it: "accepted", or "pending" when the relay cannot be reached; throws when it is refused
  // (the entry then stays, refused, with the reason).
  async submit(event, patient, label) {
    const entry = { event, patient, label, status: "pending", reason: "", at: Date.now(), queued: false };
    this.entries.push(entry);
    await this.save();
    await this.flush();
    if (entry.status === "refused") {
      // Refused at once: the form says why; the outbox keeps only what waited.
      this.entries = this.entries.filter((e) => e !== entry);
      await this.save();
      throw new Error(`the relay refused it (${entry.reason})`);
    }
    if (entry.status === "accepted" && !entry.queued) {
      this.entries = this.entries.filter((e) => e !== entry);
      await this.save();
    }
    return entry.status;
  }

  // Send every pending event in order, once each; stops at the first that cannot be sent
  // (the relay unreachable). Concurrent calls share one run.
  flush() {
    this.sending ??= this.send().finally(() => { this.sending = null; });
    return this.sending;
  }

  async send() {
    for (const entry of this.entries) {
      if (entry.status !== "pending") continue;
      try {
        await (await this.relay()).publish(entry.event);
        entry.status = "accepted";
        entry.reason = "";
      } catch (error) {
        if (error?.refused === undefined) {
          // Not sent: it and everything after it wait for the relay, in order.
          for (const waiting of this.pending()) waiting.queued = true;
          entry.reason = String(error?.message ?? error);
          await this.save();
          this.reached(error);
          return;
        }
        entry.status = "refused";
        entry.reason = error.refused;
      }
      await this.save();
    }
    this.reached(null);
  }

  // Forget the entries sent, and the refused one `id` (or every refused one).
  async dismiss(id = null) {
    this.entries = this.entries.filter((e) => e.status === "pending"
      || (e.status === "refused" && id !== null && e.event.id !== id));
    await this.save();
  }
}
