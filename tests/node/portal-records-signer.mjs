// The portal's WebAssembly in Node writing as the patient through a NIP-07-shaped signer built
// on nostr-tools (an independent NIP-44 and Schnorr implementation): `signPatientEvent` calls
// its `nip44.encrypt` and `signEvent` (as methods, with their `this`) and checks what comes
// back. A signer that refuses, and one that signs something else, give a clear error.
// stdin: {"assets", "practice", "nsec", "events": [...]}; stdout: one JSON line.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { decode } from "nostr-tools/nip19";
import { finalizeEvent, getPublicKey } from "nostr-tools/pure";
import * as nip44 from "nostr-tools/nip44";

const input = JSON.parse(readFileSync(0, "utf8"));
const wasm = await import(join(input.assets, "ehr_web_wasm.js"));
wasm.initSync({ module: readFileSync(join(input.assets, "ehr_web_wasm_bg.wasm")) });

const secret = decode(input.nsec).data;
const events = JSON.stringify(input.events);

// Like window.nostr: methods that need their object.
class Extension {
  constructor(mode) {
    this.mode = mode;
    this.publicKey = getPublicKey(secret);
    this.nip44 = {
      key: (peer) => nip44.getConversationKey(secret, peer),
      async encrypt(peer, text) { return nip44.encrypt(text, this.key(peer)); },
      async decrypt(peer, payload) { return nip44.decrypt(payload, this.key(peer)); },
    };
  }

  async signEvent(template) {
    if (this.mode === "refuse") throw new Error("user rejected");
    if (this.mode === "alter") return finalizeEvent({ ...template, content: "something else" }, secret);
    return finalizeEvent(template, secret);
  }
}

const chart = JSON.stringify({ patient: getPublicKey(secret), bundle: { entry: [] }, entries: [] });
const resource = wasm.reportedMedication(chart, "Omega-3 (test)", "1 capsule daily", "2026-11-21");
const run = async (mode) => {
  try {
    return { event: JSON.parse(await wasm.signPatientEvent(new Extension(mode), input.practice, events, resource, 1800000000)) };
  } catch (error) {
    return { isError: error instanceof Error, message: error.message };
  }
};
console.log(JSON.stringify({ honest: await run("honest"), refuse: await run("refuse"), alter: await run("alter") }));
