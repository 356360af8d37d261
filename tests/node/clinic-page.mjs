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
