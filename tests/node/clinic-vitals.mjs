// Drives the clinic app's vitals entry and growth chart in headless Chromium (Debian's, through
// playwright-core): the doctor logs in, opens a child's chart, enters vitals in lb, in and °F
// with an implausible heart rate, confirms the question, and reads the Growth tab; then the same
// at 375 px for the screenshots. Input on stdin: {"clinic", "chromium", "nsec", "search",
// "vitals": {label: value}, "units": {label: value}, "screenshots": {name: path}}. Prints one
// JSON line with what the page showed and every request it made.
import { formMessages, launch, login, openPatient, readInput, watchedPage } from "./clinic-page.mjs";

const input = await readInput();
const browser = await launch(input);
const openChild = (page) => openPatient(page, input.search);

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

const { context, page, log, violations } = await watchedPage(browser, 1280);
const result = {};
try {
  await login(page, input.clinic, input.nsec);
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
  result.formMessages = await formMessages(page);
} finally {
  result.violations = await violations();
  Object.assign(result, log);
  await context.close();
  await browser.close();
}
console.log(JSON.stringify(result));
