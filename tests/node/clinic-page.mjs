// What the clinic app's browser tests share: the input on stdin, Chromium (Debian's, through
// playwright-core), a page that records every request, socket, console error and CSP
// violation, and the staff login with a key.
import { chromium } from "playwright-core";

// The JSON the Rust test wrote on stdin.
export async function readInput() {
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  return JSON.parse(Buffer.concat(chunks).toString("utf8"));
}

// Chromium's sandbox needs user namespaces, which CI containers running as root lack.
export function launch(input) {
  return chromium.launch({ executablePath: input.chromium, args: ["--no-sandbox"] });
}

// A new page `width` px wide; `log` collects what it did: {requests, websockets, errors}
// (requests as "METHOD url"), and `violations()` reads the CSP violations seen.
export async function watchedPage(browser, width, height = 900) {
  const context = await browser.newContext({ viewport: { width, height } });
  const page = await context.newPage();
  const log = { requests: [], websockets: [], errors: [] };
  page.on("request", (request) => log.requests.push(`${request.method()} ${request.url()}`));
  page.on("websocket", (socket) => log.websockets.push(socket.url()));
  page.on("console", (message) => { if (message.type() === "error") log.errors.push(message.text()); });
  page.on("pageerror", (error) => log.errors.push(String(error)));
  // Injected by the test harness (not subject to the page's CSP): collects violations.
  await page.addInitScript(() => {
    window.__violations = [];
    document.addEventListener("securitypolicyviolation", (e) =>
      window.__violations.push(`${e.violatedDirective} ${e.blockedURI}`));
  });
  const violations = () => page.evaluate(() => window.__violations).catch(() => []);
  return { context, page, log, violations };
}

// Log in at `clinic` with `nsec` by keyboard; resolves once the patient list or an error shows.
export async function login(page, clinic, nsec) {
  await page.goto(clinic);
  await page.getByLabel("Your secret key").waitFor({ state: "visible" });
  await page.getByLabel("Your secret key").fill(nsec);
  await page.getByLabel("Your secret key").press("Enter");
  await page.waitForSelector("#workspace:not([hidden]), #error:not(:empty)");
}

// Search the patient list for `search` and open the first match.
export async function openPatient(page, search) {
  await page.getByLabel("Find a patient").fill(search);
  await page.getByLabel("Find a patient").press("Enter");
  await page.waitForSelector("#chart:not([hidden])");
}

// The texts of the forms' errors and statuses (what to report when a step times out).
export function formMessages(page) {
  return page.$$eval(".form-error, .form-status, .tab-error, #error", (ps) =>
    ps.map((p) => p.textContent).filter(Boolean)).catch(() => []);
}

// A NIP-07 extension on `page`: window.nostr backed by nostr-tools in Node with `nsec`, so the
// key never enters the page. Returns the counts of what the page asked of it, kept up to date.
export async function nip07Extension(page, nsec) {
  const { decode } = await import("nostr-tools/nip19");
  const { finalizeEvent, getPublicKey } = await import("nostr-tools/pure");
  const nip44 = await import("nostr-tools/nip44");
  const secret = decode(nsec).data;
  const asked = { getPublicKey: 0, signEvent: 0, encrypt: 0, decrypt: 0 };
  await page.exposeFunction("__extGetPublicKey", () => { asked.getPublicKey += 1; return getPublicKey(secret); });
  await page.exposeFunction("__extSignEvent", (template) => { asked.signEvent += 1; return finalizeEvent(template, secret); });
  await page.exposeFunction("__extEncrypt", (peer, text) => {
    asked.encrypt += 1;
    return nip44.encrypt(text, nip44.getConversationKey(secret, peer));
  });
  await page.exposeFunction("__extDecrypt", (peer, payload) => {
    asked.decrypt += 1;
    return nip44.decrypt(payload, nip44.getConversationKey(secret, peer));
  });
  await page.addInitScript(() => {
    window.nostr = {
      getPublicKey: () => window.__extGetPublicKey(),
      signEvent: (template) => window.__extSignEvent(template),
      nip44: {
        encrypt: (peer, text) => window.__extEncrypt(peer, text),
        decrypt: (peer, payload) => window.__extDecrypt(peer, payload),
      },
    };
  });
  return asked;
}

// Run `steps(result)` on `watched` (a watchedPage), then report as one JSON line: a step that
// throws is the `failure`, with the forms' messages; then what the page did (requests,
// sockets, console errors, CSP violations). The browser is closed either way.
export async function runAndReport(browser, watched, steps) {
  const result = {};
  try {
    await steps(result);
  } catch (error) {
    result.failure = String(error);
    result.formMessages = await formMessages(watched.page);
  } finally {
    result.violations = await watched.violations();
    Object.assign(result, watched.log);
    await browser.close();
  }
  console.log(JSON.stringify(result));
}
