// Drives the clinic app's vitals entry and growth chart in headless Chromium (Debian's, through
// playwright-core): the doctor logs in, opens a child's chart, enters vitals in lb, in and °F
// with an implausible heart rate, confirms the question, and reads the Growth tab; then the same
// at 375 px for the screenshots. Input on stdin: {"clinic", "chromium", "nsec", "search",
// "vitals": {label: value}, "units": {label: value}, "screenshots": {name: path}}. Prints one
// JSON line with what the page showed and every request it made.
import { chromium } from "playwright-core";

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const input = JSON.parse(Buffer.concat(chunks).toString("utf8"));

const browser = await chromium.launch({ executablePath: input.chromium, args: ["--no-sandbox"] });

async function openChild(page) {
  await page.getByLabel("Find a patient").fill(input.search);
  await page.getByLabel("Find a patient").press("Enter");
  await page.waitForSelector("#chart:not([hidden])");
}

async function growthRows(page) {
  await page.getByRole("tab", { name: "Growth" }).click();
  await page.waitForSelector("#panel-growth figure[data-measure=weight], #panel-growth .tab-error, #panel-growth .empty");
  return page.$$eval("#panel-growth figure", (figures) => figures.map((f) => ({
    measure: f.dataset.measure,
    curves: f.querySelectorAll("polyline.curve").length,
    points: f.querySelectorAll(".patient-points circle").length,
    rows: [...f.querySelectorAll("tbody tr")].map((tr) => [...tr.cells].map((c) => c.textContent)),
  })));
}

const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
const page = await context.newPage();
const requests = [];
const websockets = [];
const errors = [];
page.on("request", (request) => requests.push(request.url()));
page.on("websocket", (socket) => websockets.push(socket.url()));
page.on("console", (message) => { if (message.type() === "error") errors.push(message.text()); });
page.on("pageerror", (error) => errors.push(String(error)));
await page.addInitScript(() => {
  window.__violations = [];
  document.addEventListener("securitypolicyviolation", (e) =>
    window.__violations.push(`${e.violatedDirective} ${e.blockedURI}`));
});
const result = {};
try {
  await page.goto(input.clinic);
  await page.getByLabel("Your secret key").fill(input.nsec);
  await page.getByLabel("Your secret key").press("Enter");
  await page.waitForSelector("#workspace:not([hidden]), #error:not(:empty)");
  result.error = await page.textContent("#error");
  await openChild(page);
  result.heading = await page.textContent("#chart-heading");
  result.tabs = await page.$$eval("#chart-tabs [role=tab]", (tabs) => tabs.map((t) => t.textContent));
  result.before = await growthRows(page);

  await page.getByRole("tab", { name: "Vitals" }).click();
  const form = page.locator("#panel-vitals form.vitals-entry");
  await form.waitFor();
  for (const [label, unit] of Object.entries(input.units)) await form.getByLabel(label, { exact: true }).selectOption(unit);
  for (const [label, value] of Object.entries(input.vitals)) await form.getByLabel(label, { exact: true }).fill(value);
  result.visit = await form.getByLabel("Visit").inputValue();
  await form.screenshot({ path: input.screenshots.form1280 });
  await form.getByRole("button", { name: "Save vitals" }).click();
  // Questioned, not saved: the member must confirm.
  const question = form.locator(".form-error");
  await question.filter({ hasText: /\S/ }).waitFor();
  result.question = await question.textContent();
  await form.screenshot({ path: input.screenshots.question1280 });
  result.confirmLabel = await form.locator("button[type=submit]").textContent();
  await form.getByRole("button", { name: "Save vitals anyway" }).click();
  // The chart reloads on the Vitals tab: the new heart rate is in its table.
  await page.waitForFunction(() => document.querySelector("#panel-vitals")?.textContent.includes("300 /min"),
    null, { timeout: 20000 });
  result.after = await growthRows(page);
  await page.locator("#panel-growth figure[data-measure=weight]").screenshot({ path: input.screenshots.growth1280 });
  await page.locator("#panel-growth").screenshot({ path: input.screenshots.growthTab1280 });
  result.unitsRemembered = await page.evaluate(() => localStorage.getItem("clinic.vitals.units"));

  // The same at 375 px: a new drawing for the narrow screen.
  await page.setViewportSize({ width: 375, height: 800 });
  await page.getByRole("button", { name: /back to the list|patient list/i }).click();
  await openChild(page);
  await page.getByRole("tab", { name: "Vitals" }).click();
  const narrow = page.locator("#panel-vitals form.vitals-entry");
  await narrow.waitFor();
  result.unitAfterReload = await narrow.getByLabel("Weight unit").inputValue();
  await narrow.screenshot({ path: input.screenshots.form375 });
  result.narrow = await growthRows(page);
  await page.locator("#panel-growth figure[data-measure=weight]").screenshot({ path: input.screenshots.growth375 });
  result.pageWidth = await page.evaluate(() => document.documentElement.scrollWidth);
} catch (error) {
  result.failure = String(error);
  result.pageError = await page.textContent("#error").catch(() => null);
  result.formMessages = await page.$$eval(".form-error, .form-status, .tab-error", (ps) =>
    ps.map((p) => p.textContent).filter(Boolean)).catch(() => []);
} finally {
  result.violations = await page.evaluate(() => window.__violations).catch(() => []);
  result.requests = requests;
  result.websockets = websockets;
  result.errors = errors;
  await context.close();
  await browser.close();
}
console.log(JSON.stringify(result));
