// Drives an ehr-blossom server with the real blossom-client-sdk: upload, check, download, list
// and delete, signing BUD-11 tokens with nostr-tools. Prints one JSON report on stdout.
// Every token names the server (`server` tag): ehr-blossom refuses tokens that do not.
// Usage: node blossom-client.mjs <server URL> <member secret key, hex>
import {
  Actions,
  createDeleteAuth,
  createDownloadAuth,
  createListAuth,
  createUploadAuth,
} from "blossom-client-sdk";
import { finalizeEvent, getPublicKey } from "nostr-tools/pure";
import { hexToBytes } from "nostr-tools/utils";

const { deleteBlob, downloadBlob, hasBlob, listBlobs, uploadBlob } = Actions;

const [server, secretHex] = process.argv.slice(2);
const secret = hexToBytes(secretHex);
const pubkey = getPublicKey(secret);
const signer = async (draft) => finalizeEvent(draft, secret);

const bytes = new Uint8Array(70_000).map((_, i) => (i * 7) % 256);
const blob = new Blob([bytes], { type: "application/octet-stream" });
const report = {};

const descriptor = await uploadBlob(server, blob, {
  onAuth: (srv, sha256, type) => createUploadAuth(signer, sha256, { type, servers: srv }),
});
report.uploaded = descriptor;
report.has = await hasBlob(server, descriptor.sha256);
const response = await downloadBlob(server, descriptor.sha256, {
  onAuth: (srv, sha256) => createDownloadAuth(signer, [srv, sha256]),
});
const back = new Uint8Array(await response.arrayBuffer());
report.downloaded_matches = back.length === bytes.length && back.every((b, i) => b === bytes[i]);
const listed = await listBlobs(server, pubkey, { onAuth: (srv) => createListAuth(signer, { servers: srv }) });
report.listed = listed.map((d) => d.sha256);
report.deleted = await deleteBlob(server, descriptor.sha256, {
  onAuth: (srv, sha256) => createDeleteAuth(signer, sha256, { servers: srv }),
});
report.has_after_delete = await hasBlob(server, descriptor.sha256);
console.log(JSON.stringify(report));
