// Passkey login (DESIGN.md §11): the patient's nsec sealed on this device under a key that
// only her passkey can produce. WebAuthn's `prf` extension gives 32 secret bytes per
// credential and salt; HKDF-SHA256 (WebCrypto) turns them into an AES-GCM key that seals the
// nsec. Stored in localStorage: {credentialId, salt, iv, ciphertext, publicKey, practice},
// never the nsec. Without PRF there is no passkey login: the portal says so.
import { LoginError, keySigner } from "/signers.js";

const STORE = "ehr-portal-passkeys";
const HKDF_INFO = new TextEncoder().encode("nostr-ehr portal passkey v1");
const NO_PRF = "This device's passkeys cannot protect a key here (the passkey has no PRF "
  + "support). Log in with your secret key (nsec or ncryptsec) or a signer instead.";

const random = (n) => crypto.getRandomValues(new Uint8Array(n));
const toB64 = (bytes) => btoa(String.fromCharCode(...new Uint8Array(bytes)));
const fromB64 = (text) => Uint8Array.from(atob(text), (c) => c.charCodeAt(0));

function records() {
  try {
    const parsed = JSON.parse(localStorage.getItem(STORE) ?? "[]");
    return Array.isArray(parsed) ? parsed : [];
  } catch {
    return [];
  }
}

export function passkeyUsable() {
  return typeof window.PublicKeyCredential === "function" && !!navigator.credentials;
}

// The passkey record stored for `practice` (and `publicKey`, when given), if any.
export function storedPasskey(practice, publicKey = undefined) {
  return records().find((r) => r.practice === practice
    && (publicKey === undefined || r.publicKey === publicKey)) ?? null;
}

// Both sides bind the sealed key to its practice and patient (AES-GCM additional data).
const boundTo = (practice, publicKey) => new TextEncoder().encode(`${practice}:${publicKey}`);

async function aesKey(prfOutput, salt) {
  const material = await crypto.subtle.importKey("raw", prfOutput, "HKDF", false, ["deriveKey"]);
  return crypto.subtle.deriveKey({ name: "HKDF", hash: "SHA-256", salt, info: HKDF_INFO },
    material, { name: "AES-GCM", length: 256 }, false, ["encrypt", "decrypt"]);
}

async function prfOf(credentialId, salt) {
  const assertion = await navigator.credentials.get({
    publicKey: {
      challenge: random(32),
      allowCredentials: [{ type: "public-key", id: credentialId }],
      userVerification: "required",
      extensions: { prf: { eval: { first: salt } } },
    },
  });
  return assertion?.getClientExtensionResults().prf?.results?.first ?? null;
}

// Create a passkey on this device and seal `signer`'s key (a HeldKey in WebAssembly) under
// it for `practice`.
export async function setUpPasskey(signer, practice) {
  if (!passkeyUsable()) throw new LoginError(NO_PRF);
  const salt = random(32);
  let credential;
  try {
    credential = await navigator.credentials.create({
      publicKey: {
        rp: { name: "Patient portal" },
        user: { id: random(16), name: `patient-${signer.publicKey.slice(0, 12)}`, displayName: "Patient" },
        challenge: random(32),
        pubKeyCredParams: [{ type: "public-key", alg: -7 }, { type: "public-key", alg: -257 }],
        authenticatorSelection: { residentKey: "preferred", userVerification: "required" },
        extensions: { prf: { eval: { first: salt } } },
      },
    });
  } catch {
    throw new LoginError("No passkey was created (cancelled, or this device has none).");
  }
  const extension = credential.getClientExtensionResults().prf;
  if (!extension?.enabled && !extension?.results) throw new LoginError(NO_PRF);
  // Some authenticators give PRF results only when the passkey is used, not when it is made.
  const output = extension.results?.first ?? await prfOf(credential.rawId, salt);
  if (!output) throw new LoginError(NO_PRF);
  const key = await aesKey(output, salt);
  const iv = random(12);
  const nsec = new TextEncoder().encode(signer.key.exportNsec());
  let ciphertext;
  try {
    ciphertext = await crypto.subtle.encrypt(
      { name: "AES-GCM", iv, additionalData: boundTo(practice, signer.publicKey) }, key, nsec);
  } finally {
    nsec.fill(0);
    new Uint8Array(output).fill(0);
  }
  const record = {
    credentialId: toB64(credential.rawId),
    salt: toB64(salt),
    iv: toB64(iv),
    ciphertext: toB64(ciphertext),
    publicKey: signer.publicKey,
    practice,
  };
  const others = records().filter((r) => !(r.practice === practice && r.publicKey === signer.publicKey));
  localStorage.setItem(STORE, JSON.stringify([...others, record]));
}

// Log in with the passkey stored for `practice`: a signer over the unsealed key.
export async function passkeyLogin(practice) {
  const record = storedPasskey(practice);
  if (!record || !passkeyUsable()) {
    throw new LoginError("No passkey is set up for this practice on this device.");
  }
  const salt = fromB64(record.salt);
  let output;
  try {
    output = await prfOf(fromB64(record.credentialId), salt);
  } catch {
    throw new LoginError("The passkey was not used (cancelled, or not on this device).");
  }
  if (!output) throw new LoginError(NO_PRF);
  let plain;
  try {
    const key = await aesKey(output, salt);
    plain = new Uint8Array(await crypto.subtle.decrypt(
      { name: "AES-GCM", iv: fromB64(record.iv), additionalData: boundTo(practice, record.publicKey) },
      key, fromB64(record.ciphertext)));
  } catch {
    throw new LoginError("This passkey does not open the key stored on this device.");
  } finally {
    new Uint8Array(output).fill(0);
  }
  try {
    // The nsec exists as a JavaScript string only for this call (strings cannot be wiped).
    const signer = keySigner(new TextDecoder().decode(plain), "passkey");
    if (signer.publicKey !== record.publicKey) {
      signer.close();
      throw new LoginError("The key stored with this passkey is not the one it was set up for.");
    }
    return signer;
  } finally {
    plain.fill(0);
  }
}
