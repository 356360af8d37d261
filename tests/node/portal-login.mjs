// Every way into the patient portal, in headless Chromium (playwright-core), 375 px wide:
// nsec, ncryptsec (right and wrong password), a key the practice does not know, a NIP-07
// extension (nostr-tools in Node behind window.nostr, so the key never enters the page), no
// extension / one without NIP-44, NIP-46 by bunker link, by a refusing signer and by
// nostrconnect pairing (the Rust test runs the signers), a passkey (CDP virtual authenticator
// with and without PRF), and the inactivity lock.
// stdin: {"portal", "portalLock", "chromium", "connection", "maria": {nsec, ncryptsec,
// password}, "strangerNsec", "bunker", "refusingBunker", "screenshot"}.
// stdout: one JSON line per scenario; {"nostrconnect": uri} when the pairing URI is shown
// (the test then starts a signer with it).
import { chromium } from "playwright-core";
import { decode } from "nostr-tools/nip19";
import { finalizeEvent, getPublicKey } from "nostr-tools/pure";
import * as nip44 from "nostr-tools/nip44";

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const input = JSON.parse(Buffer.concat(chunks).toString("utf8"));
const print = (value) => console.log(JSON.stringify(value));

const CONNECTION = "Practice connection string";
const SECRET = "Your secret key (nsec)";
const PASSWORD = "Password of your encrypted key (ncryptsec)";
const SHOWN = "#chart:not([hidden]), #error:not(:empty)";

const browser = await chromium.launch({ executablePath: input.chromium, args: ["--no-sandbox"] });

// A fresh phone-sized context on `url`, watching requests, sockets, errors and CSP.
async function open(url = input.portal) {
  const context = await browser.newContext({ viewport: { width: 375, height: 800 } });
  const page = await context.newPage();
  const watch = { requests: [], websockets: [], errors: [] };
  const sockets = [];
  page.on("request", (request) => watch.requests.push(request.url()));
  page.on("websocket", (socket) => { watch.websockets.push(socket.url()); sockets.push(socket); });
  page.on("console", (message) => { if (message.type() === "error") watch.errors.push(message.text()); });
  page.on("pageerror", (error) => watch.errors.push(String(error)));
  await page.addInitScript(() => {
    window.__violations = [];
    document.addEventListener("securitypolicyviolation", (e) =>
      window.__violations.push(`${e.violatedDirective} ${e.blockedURI}`));
  });
  return { context, page, watch, url, sockets };
}

async function start({ page, url }) {
  await page.goto(url);
  await page.getByLabel(CONNECTION).waitFor({ state: "visible" });
  await page.getByLabel(CONNECTION).fill(input.connection);
}

// What the page shows now.
async function seen(page) {
  return {
    rows: await page.$$eval("#chart-rows tr", (trs) => trs.map((tr) => [...tr.cells].map((c) => c.textContent))),
    chartVisible: await page.isVisible("#chart"),
    status: await page.textContent("#status"),
    error: await page.textContent("#error"),
    session: await page.evaluate(() => document.documentElement.dataset.session ?? null),
  };
}

async function finish(name, { context, page, watch }, extra = {}) {
  const result = {
    name,
    ...(await seen(page)),
    ...extra,
    violations: await page.evaluate(() => window.__violations),
    ...watch,
  };
  print(result);
  await context.close();
}

async function nsecLogin(page, nsec) {
  await page.getByLabel(SECRET).fill(nsec);
  await page.getByLabel(SECRET).press("Enter");
  await page.waitForSelector(SHOWN);
}

try {
  // 1. The login screen (screenshot), nsec, the passkey offer, logout.
  {
    const s = await open();
    await start(s);
    await s.page.screenshot({ path: input.screenshot, fullPage: true });
    if (input.screenshotCopy) await s.page.screenshot({ path: input.screenshotCopy, fullPage: true });
    const passwordShownForNsec = await s.page.getByLabel(SECRET).fill(input.maria.nsec)
      .then(() => s.page.isVisible("#password-field"));
    await s.page.getByLabel(SECRET).press("Enter");
    await s.page.waitForSelector(SHOWN);
    const extra = {
      passwordShownForNsec,
      secretLeftInForm: await s.page.getByLabel(SECRET).inputValue(),
      passkeyOffered: await s.page.isVisible("#passkey-setup"),
    };
    extra.before = await seen(s.page);
    await s.page.getByRole("button", { name: "Log out" }).click();
    await s.page.waitForSelector('html[data-session="ended"]');
    await finish("nsec", s, extra);
  }

  // 2. ncryptsec: the password field appears; a wrong password opens nothing; the right one does.
  {
    const s = await open();
    await start(s);
    await s.page.getByLabel(SECRET).fill(input.maria.ncryptsec);
    await s.page.getByLabel(PASSWORD).waitFor({ state: "visible" });
    await s.page.getByLabel(PASSWORD).fill("not the password");
    await s.page.getByLabel(PASSWORD).press("Enter");
    await s.page.waitForSelector("#error:not(:empty)");
    const wrong = {
      ...(await seen(s.page)),
      secretLeft: await s.page.getByLabel(SECRET).inputValue(),
      passwordLeft: await s.page.getByLabel(PASSWORD).inputValue(),
    };
    await s.page.getByLabel(SECRET).fill(input.maria.ncryptsec);
    await s.page.getByLabel(PASSWORD).fill(input.maria.password);
    await s.page.getByRole("button", { name: "Open my chart" }).click();
    await s.page.waitForSelector("#chart:not([hidden])", { timeout: 60000 });
    await finish("ncryptsec", s, {
      wrong,
      passwordLeft: await s.page.getByLabel(PASSWORD).inputValue(),
    });
  }

  // 3. A key the practice does not know.
  {
    const s = await open();
    await start(s);
    await nsecLogin(s.page, input.strangerNsec);
    await finish("stranger", s);
  }

  // 4. NIP-07: window.nostr backed by nostr-tools in Node with Maria's key.
  {
    const s = await open();
    const secret = decode(input.maria.nsec).data;
    const asked = { getPublicKey: 0, signEvent: 0, encrypt: 0, decrypt: 0 };
    await s.page.exposeFunction("__extGetPublicKey", () => { asked.getPublicKey += 1; return getPublicKey(secret); });
    await s.page.exposeFunction("__extSignEvent", (template) => { asked.signEvent += 1; return finalizeEvent(template, secret); });
    await s.page.exposeFunction("__extEncrypt", (peer, text) => {
      asked.encrypt += 1;
      return nip44.encrypt(text, nip44.getConversationKey(secret, peer));
    });
    await s.page.exposeFunction("__extDecrypt", (peer, payload) => {
      asked.decrypt += 1;
      return nip44.decrypt(payload, nip44.getConversationKey(secret, peer));
    });
    await s.page.addInitScript(() => {
      window.nostr = {
        getPublicKey: () => window.__extGetPublicKey(),
        signEvent: (template) => window.__extSignEvent(template),
        nip44: {
          encrypt: (peer, text) => window.__extEncrypt(peer, text),
          decrypt: (peer, payload) => window.__extDecrypt(peer, payload),
        },
      };
    });
    await start(s);
    await s.page.getByRole("button", { name: "Log in with a browser extension (NIP-07)" }).click();
    await s.page.waitForSelector(SHOWN, { timeout: 60000 });
    await finish("nip07", s, { asked });
  }

  // 5. No extension; an extension without NIP-44.
  for (const [name, script] of [["no-extension", () => {}],
    ["no-nip44", () => { window.nostr = { getPublicKey: async () => "00", signEvent: async (t) => t }; }]]) {
    const s = await open();
    await s.page.addInitScript(script);
    await start(s);
    await s.page.getByRole("button", { name: "Log in with a browser extension (NIP-07)" }).click();
    await s.page.waitForSelector(SHOWN);
    await finish(name, s);
  }

  // 6. NIP-46: a bunker link; a signer that refuses; a nostrconnect pairing.
  for (const [name, uri] of [["bunker", input.bunker], ["bunker-refusing", input.refusingBunker]]) {
    const s = await open();
    await start(s);
    await s.page.getByLabel("Remote signer link (bunker://)").fill(uri);
    await s.page.getByRole("button", { name: "Log in with the remote signer" }).click();
    await s.page.waitForSelector(SHOWN, { timeout: 90000 });
    const extra = { bunkerLeft: await s.page.getByLabel("Remote signer link (bunker://)").inputValue() };
    if (name === "bunker") {
      extra.before = await seen(s.page);
      // Logging out disconnects the signer: every socket of the page closes.
      extra.socketsOpenAtChart = s.sockets.filter((socket) => !socket.isClosed()).length;
      await s.page.getByRole("button", { name: "Log out" }).click();
      await Promise.all(s.sockets.filter((socket) => !socket.isClosed())
        .map((socket) => socket.waitForEvent("close")));
      extra.socketsOpenAfterLogout = s.sockets.filter((socket) => !socket.isClosed()).length;
    }
    await finish(name, s, extra);
  }
  {
    const s = await open();
    await start(s);
    await s.page.getByRole("button", { name: "Pair a signer app (nostrconnect)" }).click();
    const shown = s.page.getByLabel("Paste this into your signer app, then approve the connection");
    await shown.waitFor({ state: "visible" });
    const uri = await shown.inputValue();
    print({ nostrconnect: uri });
    await s.page.waitForSelector(SHOWN, { timeout: 90000 });
    await finish("nostrconnect", s, { uri, pairingVisible: await s.page.isVisible("#pairing") });
  }

  // 7. Passkey: set up after an nsec login, log out, log in with the passkey alone.
  for (const hasPrf of [true, false]) {
    const s = await open();
    const cdp = await s.context.newCDPSession(s.page);
    await cdp.send("WebAuthn.enable");
    await cdp.send("WebAuthn.addVirtualAuthenticator", {
      options: {
        protocol: "ctap2", transport: "internal", hasResidentKey: true,
        hasUserVerification: true, isUserVerified: true, hasPrf,
      },
    });
    await start(s);
    await nsecLogin(s.page, input.maria.nsec);
    await s.page.getByRole("button", { name: "Set up a passkey on this device" }).click();
    await s.page.waitForFunction(() => /Passkey set up/.test(document.getElementById("status").textContent)
      || document.getElementById("error").textContent !== "");
    const setUp = await seen(s.page);
    const stored = await s.page.evaluate(() => localStorage.getItem("ehr-portal-passkeys"));
    await s.page.getByRole("button", { name: "Log out" }).click();
    await s.page.waitForSelector('html[data-session="ended"]');
    const extra = { setUp, stored, passkeyButton: await s.page.isVisible("#login-passkey") };
    if (extra.passkeyButton) {
      // A fresh page: nothing but the passkey and what it sealed on this device.
      await s.page.reload();
      await s.page.getByLabel(CONNECTION).waitFor({ state: "visible" });
      await s.page.getByRole("button", { name: "Log in with a passkey" }).click();
      await s.page.waitForSelector(SHOWN, { timeout: 60000 });
    }
    await finish(hasPrf ? "passkey" : "passkey-no-prf", s, extra);
  }

  // 8. The inactivity lock (this portal locks after a few seconds).
  {
    const s = await open(input.portalLock);
    await start(s);
    await nsecLogin(s.page, input.maria.nsec);
    const before = await seen(s.page);
    await s.page.evaluate(() => sessionStorage.setItem("probe", "x"));
    await s.page.waitForSelector('html[data-session="locked"]', { timeout: 60000 });
    const after = await s.page.evaluate(() => ({
      html: document.documentElement.outerHTML,
      text: document.body.innerText,
      sessionStorage: sessionStorage.length,
      localStorage: JSON.stringify({ ...localStorage }),
      focused: document.activeElement?.id ?? null,
      loginVisible: !document.getElementById("login").hidden,
    }));
    await finish("lock", s, { before, after });
  }
} finally {
  await browser.close();
}
