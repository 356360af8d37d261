// The clinic app offline, in headless Chromium. The nurse logs in through a proxy the test can
// cut and opens Maria's chart; the relay becomes unreachable; she writes vitals and a nursing
// note (kept in the outbox); the browser goes offline and the page is reloaded (the service
// worker serves the app), she logs in from what the device kept, and finds the chart and the
// outbox; the doctor writes meanwhile; the network comes back: the outbox is sent and the
// doctor's record appears. Then what this browser stores is read whole, and she logs out.
// Input on stdin: {"clinic", "chromium", "nsec", "connection", "control", "search", "marker",
// "doctorMarker", "screenshots": {"outbox", "offline375"}}. Prints one JSON line.
import { launch, openPatient, readInput, runAndReport, watchedPage } from "./clinic-page.mjs";

const input = await readInput();
const browser = await launch(input);
const watched = await watchedPage(browser, 1280, 1000);
const { page, context } = watched;
const control = (what) => fetch(`${input.control}/${what}`, { method: "POST" }).then((r) => r.text());
const summary = () => page.textContent("#outbox-summary");

// Log in with the test's connection string (through the proxy) and the nurse's key.
async function logIn() {
  await page.getByLabel("Practice connection string").fill(input.connection);
  await page.getByLabel("Your secret key").fill(input.nsec);
  await page.getByLabel("Your secret key").press("Enter");
  await page.waitForSelector("#workspace:not([hidden]), #error:not(:empty)");
}

// Everything this browser keeps for the app: IndexedDB's entries and the Cache API's files.
function stored() {
  return page.evaluate(async () => {
    const db = await new Promise((resolve, reject) => {
      const req = indexedDB.open("nostr-ehr-clinic");
      req.onsuccess = () => resolve(req.result);
      req.onerror = () => reject(req.error);
    });
    const all = (method) => new Promise((resolve) => {
      const req = db.transaction("entries").objectStore("entries")[method]();
      req.onsuccess = () => resolve(req.result);
    });
    const [keys, values] = [await all("getAllKeys"), await all("getAll")];
    db.close();
    const files = [];
    for (const name of await caches.keys()) {
      const cache = await caches.open(name);
      for (const request of await cache.keys()) files.push(await (await cache.match(request)).text());
    }
    return { keys: keys.map(String), values: values.map(String), files };
  });
}

// How many NIP-77 reconciliations the page opened (a chart brought up to date by negentropy).
let negOpens = 0;
page.on("websocket", (socket) => socket.on("framesent", (frame) => {
  if (String(frame.payload).startsWith('["NEG-OPEN"')) negOpens += 1;
}));

await runAndReport(browser, watched, async (result) => {
  await page.goto(input.clinic);
  await logIn();
  result.worker = await page.evaluate(() => navigator.serviceWorker.ready.then((r) => Boolean(r.active)));
  await openPatient(page, input.search);
  result.onlineSummary = await summary();

  // The relay becomes unreachable: vitals and a nursing note go to the outbox.
  await control("cut");
  await page.getByRole("tab", { name: "Vitals" }).click();
  const vitals = page.locator("#panel-vitals form.vitals-entry");
  for (const [label, value] of [["Weight", "71.5"], ["Heart rate (/min)", "72"], ["Systolic", "118"], ["Diastolic", "76"]]) {
    await vitals.getByLabel(label, { exact: true }).fill(value);
  }
  await vitals.getByRole("button", { name: "Save vitals" }).click();
  // Kept: the chart is drawn again with them, and the header counts them as waiting.
  await page.waitForFunction(() => /waiting to send/.test(document.querySelector("#outbox-summary")?.textContent ?? "")
    || document.querySelector("#panel-vitals .form-error")?.textContent, null, { timeout: 60000 });
  result.vitalsSaid = await summary();
  await page.getByRole("tab", { name: "New note" }).click();
  await page.getByLabel("Objective").fill(input.marker);
  await page.getByRole("button", { name: "Sign note" }).click();
  // Kept: the form says so until the chart is drawn again, and the chart's status after it.
  await page.waitForFunction(() => /kept on this device/i.test(
    `${document.querySelector("#panel-note")?.textContent} ${document.querySelector("#status")?.textContent}`)
    || document.querySelector("#panel-note .form-error")?.textContent, null, { timeout: 60000 });
  result.noteSaid = [...await page.locator("#panel-note .form-status, #panel-note .form-error").allTextContents(),
    await page.textContent("#status")];
  result.offlineSummary = await summary();

  // No network at all, and the page reloaded: the service worker serves the app; she logs in
  // from what this device kept and finds the chart with what she wrote.
  await context.setOffline(true);
  await page.reload();
  await page.getByLabel("Your secret key").waitFor({ state: "visible" });
  await logIn();
  result.offlineLogin = await page.textContent("#status");
  await openPatient(page, input.search);
  await page.getByRole("tab", { name: "Visits" }).click();
  result.noteAfterReload = await page.locator("#panel-visits").innerText();
  await page.getByRole("tab", { name: "Vitals" }).click();
  result.vitalsAfterReload = await page.locator("#panel-vitals").innerText();
  await page.click("#outbox-summary");
  result.outboxWaiting = await page.$$eval("#outbox tbody tr", (rows) => rows.map((r) => r.textContent));
  result.afterReloadSummary = await summary();
  await page.setViewportSize({ width: 375, height: 800 });
  await page.screenshot({ path: input.screenshots.offline375, fullPage: true });
  await page.setViewportSize({ width: 1280, height: 1000 });
  result.stored = await stored();

  // The doctor writes while the nurse is offline; then the network comes back.
  result.doctorWrote = await control("doctor-writes");
  await context.setOffline(false);
  await control("restore");
  await page.waitForFunction(() => {
    const text = document.querySelector("#outbox-summary")?.textContent ?? "";
    return text.startsWith("Online") && !text.includes("waiting");
  }, null, { timeout: 60000 });
  await page.waitForFunction(() => /Back online/.test(document.querySelector("#status")?.textContent ?? ""),
    null, { timeout: 60000 });
  result.sentSummary = await summary();
  result.negOpens = negOpens;
  result.outboxSent = await page.$$eval("#outbox tbody tr", (rows) =>
    rows.map((r) => ({ id: r.dataset.event, text: r.textContent })));
  await page.getByRole("tab", { name: "Problems" }).click();
  await page.waitForFunction((marker) => document.querySelector("#panel-problems")?.textContent.includes(marker),
    input.doctorMarker, { timeout: 60000 });
  result.status = await page.textContent("#status");
  await page.screenshot({ path: input.screenshots.outbox, fullPage: true });

  // Logging out wipes the cache: only the logins' seals and the (sent) outbox stay.
  await page.click("#logout");
  await page.getByLabel("Your secret key").waitFor({ state: "visible" });
  await page.waitForFunction(async () => {
    const db = await new Promise((resolve) => { const r = indexedDB.open("nostr-ehr-clinic"); r.onsuccess = () => resolve(r.result); });
    const keys = await new Promise((resolve) => { const r = db.transaction("entries").objectStore("entries").getAllKeys(); r.onsuccess = () => resolve(r.result); });
    db.close();
    return keys.filter((k) => !String(k).startsWith("login:")).length <= 1;
  }, null, { timeout: 10000 }).catch(() => {});
  result.afterLogout = (await stored()).keys;
});
