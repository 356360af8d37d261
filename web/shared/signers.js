// Login methods (DESIGN.md §11). Every method yields a signer with one interface, so the rest
// of the app never asks how the patient logged in:
//
//   {
//     method: "nsec" | "ncryptsec" | "nip07" | "nip46" | "passkey",
//     publicKey: hex,
//     signEvent(template) -> Promise<event>   template: {kind, created_at, tags, content}
//     nip44: { encrypt(peerHex, plaintext) -> Promise<string>,
//              decrypt(peerHex, payload) -> Promise<string> },
//     key: HeldKey | null    the secret held in WebAssembly (fast chart opening), if any
//     close()                   wipes the key / disconnects a remote signer
//   }
//
// The NIP-46 signer is nip46.js's; the passkey login ends in keySigner (passkey.js).
import { HeldKey } from "/assets/ehr_web_wasm.js";

// A secret key held in WebAssembly memory (nsec, hex, or an ncryptsec with its `password`,
// decrypted in WebAssembly); wiped by close().
export function keySigner(secret, method = "nsec", password = undefined) {
  return wasmKeySigner(HeldKey.unlock(secret, password), method);
}

// The signer over a HeldKey already made; close() frees (zeroes) it.
function wasmKeySigner(key, method) {
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

// A refusal to show as it is: it says what happened and what to do instead.
export class LoginError extends Error {}

const HEX_KEY = /^[0-9a-f]{64}$/;

// NIP-07: the browser extension at `window.nostr` signs and decrypts; the key never enters
// the page. Records are NIP-44, so an extension without nip44 cannot open them.
export async function extensionSigner(nostr = window.nostr) {
  if (!nostr || typeof nostr.getPublicKey !== "function") {
    throw new LoginError("No Nostr browser extension (NIP-07) was found in this browser. "
      + "Install one, or log in with your secret key or a remote signer.");
  }
  if (typeof nostr.nip44?.encrypt !== "function" || typeof nostr.nip44?.decrypt !== "function") {
    throw new LoginError("Your browser extension cannot do NIP-44 encryption, which your records "
      + "need. Update it, or log in with your secret key or a remote signer.");
  }
  const publicKey = await nostr.getPublicKey();
  if (typeof publicKey !== "string" || !HEX_KEY.test(publicKey)) {
    throw new LoginError("Your browser extension did not give a valid public key.");
  }
  let open = true;
  const live = () => {
    if (!open) throw new Error("the session is locked");
    return nostr;
  };
  return {
    method: "nip07",
    publicKey,
    key: null,
    signEvent: async (template) => live().signEvent(template),
    nip44: {
      encrypt: async (peer, plaintext) => live().nip44.encrypt(peer, plaintext),
      decrypt: async (peer, payload) => live().nip44.decrypt(peer, payload),
    },
    close() {
      open = false;
    },
  };
}
