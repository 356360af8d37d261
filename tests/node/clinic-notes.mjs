// Drives the clinic app's notes in headless Chromium: the doctor starts a note from a template
// (dot-phrases filled in from the chart), leaves, comes back to the draft restored, signs it,
// and signs an addendum under it; the nurse writes a nursing note. Input on stdin:
// {"clinic", "chromium", "doctor", "nurse", "search", "plan", "addendum", "nursing",
//  "screenshots": {"writing", "visits"}}. Prints one JSON line.
import { chromium } from "playwright-core";

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const input = JSON.parse(Buffer.concat(chunks).toString("utf8"));
const browser = await chromium.launch({ executablePath: input.chromium, args: ["--no-sandbox"] });
const result = { errors: [], violations: [] };

async function login(page, nsec) {
  await page.goto(input.clinic);
  await page.getByLabel("Your secret key").waitFor({ state: "visible" });
  await page.getByLabel("Your secret key").fill(nsec);
  await page.getByLabel("Your secret key").press("Enter");
  await page.waitForSelector("#workspace:not([hidden]), #error:not(:empty)");
  await page.getByLabel("Find a patient").fill(input.search);
  await page.getByLabel("Find a patient").press("Enter");
  await page.waitForSelector("#chart:not([hidden])");
}

async function watch(page) {
  page.on("console", (m) => { if (m.type() === "error") result.errors.push(m.text()); });
  page.on("pageerror", (e) => result.errors.push(String(e)));
  await page.addInitScript(() => {
    window.__violations = [];
    document.addEventListener("securitypolicyviolation", (e) =>
      window.__violations.push(`${e.violatedDirective} ${e.blockedURI}`));
  });
}

try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 1000 } });
  const page = await context.newPage();
  await watch(page);
  await login(page, input.doctor);
  await page.getByRole("tab", { name: "New note" }).click();
  await page.getByLabel("Template").selectOption({ label: "Chronic care follow-up" });
  result.subjective = await page.getByLabel("Subjective").inputValue();
  result.assessment = await page.getByLabel("Assessment").inputValue();
  await page.getByLabel("Plan").fill(input.plan);
  await page.getByText("Draft saved").waitFor();
  if (input.screenshots?.writing) await page.screenshot({ path: input.screenshots.writing, fullPage: true });
  // What the browser keeps between visits: sealed, nothing of the chart readable.
  result.storage = await page.evaluate(() => Object.values(localStorage).join("\n"));
  // Interrupted: the page is reloaded; she logs in again and finds her draft.
  await page.reload();
  await login(page, input.doctor);
  await page.getByRole("tab", { name: "New note" }).click();
  await page.getByText("Draft restored").waitFor();
  result.restoredPlan = await page.getByLabel("Plan").inputValue();
  await page.getByRole("button", { name: "Sign note" }).click();
  // Once published, the chart is drawn again on the note tab, with an empty form.
  await page.waitForFunction((plan) => !document.body.textContent.includes("Draft restored")
    || document.querySelector("#panel-note .form-error")?.textContent, input.plan);
  result.signError = await page.textContent("#panel-note .form-error");
  await page.getByRole("tab", { name: "Visits" }).click();
  const signed = page.locator("#panel-visits section.note", { hasText: input.plan });
  await signed.waitFor();
  result.draftsLeft = await page.evaluate(() => Object.keys(localStorage).filter((k) => k.startsWith("clinic-draft:")).length);
  await signed.getByText("Add an addendum").click();
  await signed.getByLabel("Addendum").fill(input.addendum);
  await signed.getByRole("button", { name: "Sign addendum" }).click();
  await page.locator("#panel-visits section.addendum", { hasText: input.addendum }).waitFor();
  if (input.screenshots?.visits) await page.screenshot({ path: input.screenshots.visits, fullPage: true });
  result.violations.push(...await page.evaluate(() => window.__violations));
  await context.close();

  const nurseContext = await browser.newContext({ viewport: { width: 375, height: 900 } });
  const nursePage = await nurseContext.newPage();
  await watch(nursePage);
  await login(nursePage, input.nurse);
  await nursePage.getByRole("tab", { name: "New note" }).click();
  result.nurseKind = await nursePage.getByLabel("Kind of note").inputValue();
  await nursePage.getByLabel("Objective").fill(input.nursing);
  await nursePage.getByRole("button", { name: "Sign note" }).click();
  await nursePage.waitForFunction(() => !document.querySelector("#panel-note textarea[name=objective]")?.value
    || document.querySelector("#panel-note .form-error")?.textContent);
  result.nurseSignError = await nursePage.textContent("#panel-note .form-error");
  await nursePage.getByRole("tab", { name: "Visits" }).click();
  await nursePage.locator("#panel-visits section.note", { hasText: input.nursing }).waitFor();
  result.violations.push(...await nursePage.evaluate(() => window.__violations));
  await nurseContext.close();
} catch (error) {
  result.failure = String(error);
} finally {
  for (const context of browser.contexts()) {
    for (const page of context.pages()) {
      result.formMessages = await page.$$eval(".form-error, .form-status", (ps) =>
        ps.map((p) => p.textContent).filter(Boolean)).catch(() => []);
    }
  }
  await browser.close();
}
console.log(JSON.stringify(result));
