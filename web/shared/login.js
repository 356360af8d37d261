// The login screen and the session (DESIGN.md §11, "Logins and the session"), shared by the
// portal and the clinic app. Each login method ends in one signer (signers.js); the app's
// showChart takes it from there. The session locks after inactivity and on logout: what was
// decrypted leaves the page, the signer is closed (key wiped in WebAssembly, remote signer
// disconnected), sessionStorage is cleared. The app's words (a patient's chart, a member's
// patient list) come in `texts`.
import { LoginError, extensionSigner, keySigner } from "/signers.js";
import { bunkerSigner, pairSigner } from "/nip46.js";
import { verifiedConnection } from "/practices.js";
import { passkeyLogin, passkeyUsable, setUpPasskey, storedPasskey } from "/passkey.js";
import { $ } from "/dom.js";

const DEFAULT_LOCK_SECS = 15 * 60;
const ACTIVITY = ["pointerdown", "keydown", "wheel", "touchstart"];

let app = null;     // { showChart, endSession, texts } from the app
const PORTAL_TEXTS = {
  notRegistered: "This key is not registered with this practice, so there is no chart to open. "
    + "Use the key your practice registered for you, or check the connection string.",
  failed: "Could not open your chart",
  locked: "Your session was locked after a time without activity, and your chart was removed from this page. Log in again to see it.",
  loggedOut: "Logged out; the decrypted chart was removed from this page.",
};
let texts = PORTAL_TEXTS;
let session = null; // { signer, context, timer }
let pairing = null; // an AbortController while a nostrconnect pairing waits

function lockAfterMs() {
  const secs = Number(document.querySelector('meta[name="ehr-lock-after"]')?.content);
  return (Number.isFinite(secs) && secs > 0 ? secs : DEFAULT_LOCK_SECS) * 1000;
}

function setState(state) {
  document.documentElement.dataset.session = state;
}

function busy(on) {
  for (const button of $("login").querySelectorAll("button")) button.disabled = on;
}

// What to tell the patient when a login fails: a LoginError as it is; the relay refusing a
// key it does not know, in plain words; anything else with its message (which never quotes
// a key: the WebAssembly's errors do not).
function explain(error) {
  const message = String(error?.message ?? error);
  if (error instanceof LoginError) return message;
  if (error?.phishing) return `Warning: ${message}`;
  if (message.includes("not a member of the practice")) return texts.notRegistered;
  return `${texts.failed}: ${message}`;
}

const sentence = (text) => `${text.charAt(0).toUpperCase()}${text.slice(1)}.`;

// The practice of the connection string, verified: a string its practice did not sign is
// refused before any relay or signer is contacted.
function connection() {
  return verifiedConnection($("connection").value);
}

// Run one login: `makeSigner()` yields a signer; the chart opens with it and the session
// starts. On any failure the signer is closed and nothing stays open.
async function login(makeSigner, { offerPasskey = false } = {}) {
  $("error").textContent = "";
  busy(true);
  let signer;
  try {
    signer = await makeSigner();
    const context = await app.showChart(signer);
    startSession(signer, context, offerPasskey);
  } catch (error) {
    signer?.close();
    $("status").textContent = "";
    $("error").textContent = explain(error);
    $("error").classList.toggle("phishing", Boolean(error?.phishing));
  } finally {
    busy(false);
  }
}

function startSession(signer, context, offerPasskey) {
  session = { signer, context, timer: null };
  setState("open");
  touch();
  $("passkey-offer").hidden = !(offerPasskey && signer.key && passkeyUsable()
    && !storedPasskey(context.connection.practice, signer.publicKey));
}

function touch() {
  if (!session) return;
  clearTimeout(session.timer);
  session.timer = setTimeout(() => endSession("locked"), lockAfterMs());
}

// Lock or log out: everything decrypted leaves the page and memory, the signer is closed.
function endSession(state) {
  if (!session) return;
  clearTimeout(session.timer);
  const { signer } = session;
  session = null;
  signer.close();
  sessionStorage.clear();
  $("error").textContent = "";
  $("passkey-offer").hidden = true;
  // Other views (tabs) drop what they decrypted.
  document.dispatchEvent(new CustomEvent("ehr-session-end"));
  app.endSession(state === "locked" ? texts.locked : texts.loggedOut);
  setState(state);
  refreshPasskeyButton();
  $("secret").focus();
}

function showPassword() {
  const encrypted = $("secret").value.trim().startsWith("ncryptsec1");
  $("password-field").hidden = !encrypted;
  $("password").required = encrypted;
}

function refreshPasskeyButton() {
  let practice = null;
  try {
    practice = connection().practice;
  } catch {
    // No valid connection string yet: no stored passkey can be matched.
  }
  $("login-passkey").hidden = !(practice && passkeyUsable() && storedPasskey(practice));
}

async function startPairing() {
  pairing?.abort();
  const controller = new AbortController();
  pairing = controller;
  await login(async () => {
    const { relay } = connection();
    $("status").textContent = "Waiting for your signer app to connect…";
    try {
      return await pairSigner(relay, controller.signal, (uri) => {
        $("pairing-uri").value = uri;
        $("pairing").hidden = false;
        $("pairing-copy").disabled = false;
        $("pairing-cancel").disabled = false;
        $("pairing-uri").focus();
      });
    } finally {
      $("pairing").hidden = true;
      $("pairing-uri").value = "";
      if (pairing === controller) pairing = null;
    }
  });
}

export function initLogin(callbacks) {
  app = callbacks;
  texts = { ...PORTAL_TEXTS, ...callbacks.texts };
  setState("none");
  $("secret").addEventListener("input", showPassword);
  $("connection").addEventListener("input", refreshPasskeyButton);
  refreshPasskeyButton();
  $("login").addEventListener("submit", (submit) => {
    submit.preventDefault();
    const secret = $("secret").value;
    const password = $("password").value;
    const encrypted = secret.trim().startsWith("ncryptsec1");
    // From here the secret lives only inside the WebAssembly HeldKey.
    $("secret").value = "";
    $("password").value = "";
    showPassword();
    login(() => {
      if (encrypted) $("status").textContent = "Decrypting your key…";
      try {
        return keySigner(secret, encrypted ? "ncryptsec" : "nsec", encrypted ? password : undefined);
      } catch (error) {
        // The WebAssembly's message names the problem and never quotes the key.
        throw new LoginError(sentence(error.message));
      }
    }, { offerPasskey: true });
  });
  $("login-nip07").addEventListener("click", () => login(() => extensionSigner()));
  const bunker = () => {
    const uri = $("bunker").value;
    $("bunker").value = "";
    login(() => {
      $("status").textContent = "Asking your remote signer…";
      return bunkerSigner(uri, connection().relay);
    });
  };
  $("login-bunker").addEventListener("click", bunker);
  $("bunker").addEventListener("keydown", (key) => {
    if (key.key === "Enter") {
      key.preventDefault();
      bunker();
    }
  });
  $("login-nostrconnect").addEventListener("click", startPairing);
  $("pairing-copy").addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText($("pairing-uri").value);
      $("status").textContent = "Copied. Paste it into your signer app.";
    } catch {
      $("pairing-uri").select();
      $("status").textContent = "Select the text and copy it into your signer app.";
    }
  });
  $("pairing-cancel").addEventListener("click", () => pairing?.abort());
  $("login-passkey").addEventListener("click", () => login(async () => {
    $("status").textContent = "Waiting for your passkey…";
    return passkeyLogin(connection().practice);
  }));
  $("passkey-setup").addEventListener("click", async () => {
    if (!session?.signer.key) return;
    $("passkey-setup").disabled = true;
    try {
      await setUpPasskey(session.signer, session.context.connection.practice);
      $("passkey-offer").hidden = true;
      $("status").textContent = "Passkey set up: next time, log in with it on this device.";
    } catch (error) {
      $("error").textContent = explain(error);
    } finally {
      $("passkey-setup").disabled = false;
    }
  });
  $("logout").addEventListener("click", () => endSession("ended"));
  for (const type of ACTIVITY) document.addEventListener(type, touch, { passive: true });
}
