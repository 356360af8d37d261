// The portal's WebAssembly in Node, with nostr-tools standing in for a NIP-07 extension:
// `openChartWithSigner` gets a signer object whose NIP-44 decrypt is independent
// (window.nostr.nip44.decrypt's shape) and must fold the same chart as `HeldKey.openChart`
// with the raw key. A signer that refuses (the user said no) leaves every record unopened, each
// refused with a reason.
// stdin: {"assets", "connection", "nsec", "events": [...]}; stdout: one JSON line.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { decode } from "nostr-tools/nip19";
import { getPublicKey } from "nostr-tools/pure";
import * as nip44 from "nostr-tools/nip44";

const input = JSON.parse(readFileSync(0, "utf8"));
const wasm = await import(join(input.assets, "ehr_web_wasm.js"));
wasm.initSync({ module: readFileSync(join(input.assets, "ehr_web_wasm_bg.wasm")) });

const { practice } = JSON.parse(wasm.verifyConnection(input.connection));
const secret = decode(input.nsec).data;
const patient = getPublicKey(secret);
const events = JSON.stringify(input.events);
const signer = (decrypt) => ({ publicKey: patient, nip44: { decrypt } });
const extension = signer(async (peer, ciphertext) =>
  nip44.decrypt(ciphertext, nip44.getConversationKey(secret, peer)));
const refusing = signer(async () => { throw new Error("user rejected"); });

// As text: JSON.parse would turn 30.0 into 30, and the comparison is with the CLI's bytes.
const withSigner = await wasm.openChartWithSigner(practice, extension, events);
const key = wasm.HeldKey.unlock(input.nsec);
const withKey = key.openChart(practice, events);
key.free();
const refused = JSON.parse(await wasm.openChartWithSigner(practice, refusing, events));
let badKeyError = null;
try {
  wasm.HeldKey.unlock("nsec1definitelynotakey");
} catch (error) {
  badKeyError = { isError: error instanceof Error, message: error.message };
}
console.log(JSON.stringify({ patient, withSigner, withKey, refused, badKeyError }));
