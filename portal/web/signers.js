// Login methods (DESIGN.md §11). Every method yields a signer with one interface, so the rest
// of the app never asks how the patient logged in:
//
//   {
//     method: "nsec" | "nip07" | "nip46" | "passkey",
//     publicKey: hex,
//     signEvent(template) -> Promise<event>   template: {kind, created_at, tags, content}
//     nip44: { encrypt(peerHex, plaintext) -> Promise<string>,
//              decrypt(peerHex, payload) -> Promise<string> },
//     key: PatientKey | null    the secret held in WebAssembly (fast chart opening), if any
//     close()                   wipes the key / disconnects a remote signer
//   }
import { PatientKey } from "/assets/ehr_portal_wasm.js";

// A secret key held in WebAssembly memory (nsec or hex); wiped by close().
export function keySigner(secret, method = "nsec") {
  const key = new PatientKey(secret);
  let open = true;
  const live = () => {
    if (!open) throw new Error("the session is locked");
    return key;
  };
  return {
    method,
    publicKey: key.publicKey(),
    key,
    signEvent: async (template) => JSON.parse(live().signEvent(JSON.stringify(template))),
    nip44: {
      encrypt: async (peer, plaintext) => live().nip44Encrypt(peer, plaintext),
      decrypt: async (peer, payload) => live().nip44Decrypt(peer, payload),
    },
    close() {
      if (open) {
        open = false;
        key.free();
      }
    },
  };
}
