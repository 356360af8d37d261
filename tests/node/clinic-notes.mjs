// Drives the clinic app's notes in headless Chromium: the doctor defines a dot-phrase for the
// practice, starts a note from a template (dot-phrases filled in from the chart, hers from the
// practice's book), leaves, comes back to the draft restored, signs it, and signs an addendum
// under it; the nurse finds the practice's phrase and writes a nursing note. Input on stdin:
// {"clinic", "chromium", "doctor", "nurse", "search", "plan", "addendum", "nursing",
//  "phrase": {"name", "text"}, "screenshots": {"writing", "visits"}}. Prints one JSON line.
import { formMessages, launch, login, openPatient, readInput, watchedPage } from "./clinic-page.mjs";

const input = await readInput();
const browser = await launch(input);
const result = { errors: [], violations: [], requests: [], websockets: [] };

// Log in and open the patient the test names.
async function openChart(page, nsec) {
  await login(page, input.clinic, nsec);
  await openPatient(page, input.search);
}

// Keep what a page did with the result.
async function record({ log, violations }) {
  result.violations.push(...await violations());
  for (const key of ["errors", "requests", "websockets"]) result[key].push(...log[key]);
}

let pages = [];
try {
  const doctor = await watchedPage(browser, 1280, 1000);
  pages.push(doctor);
  const { page } = doctor;
  await openChart(page, input.doctor);
  await page.getByRole("tab", { name: "New note" }).click();
  // A phrase of the practice's own, then the tab is drawn again with it in the book.
  await page.getByText("Practice dot-phrases (0)").click();
  await page.getByLabel("Phrase name (letters after the dot)").fill(input.phrase.name);
  await page.getByLabel("Text it becomes").fill(input.phrase.text);
  await page.getByRole("button", { name: "Save phrase for the practice" }).click();
  await page.getByText("Practice dot-phrases (1)").waitFor();
  await page.getByLabel("Template").selectOption({ label: "Chronic care follow-up" });
  result.subjective = await page.getByLabel("Subjective").inputValue();
  const assessment = page.getByLabel("Assessment");
  await assessment.fill(`${await assessment.inputValue()}\n.${input.phrase.name}`);
  await assessment.press("Tab");
  result.assessment = await assessment.inputValue();
  await page.getByLabel("Plan", { exact: true }).fill(input.plan);
  await page.getByText("Draft saved").waitFor();
  if (input.screenshots?.writing) await page.screenshot({ path: input.screenshots.writing, fullPage: true });
  // What the browser keeps between visits: sealed, nothing of the chart readable.
  result.storage = await page.evaluate(() => Object.values(localStorage).join("\n"));
  // Interrupted: the page is reloaded; she logs in again and finds her draft.
  await page.reload();
  await openChart(page, input.doctor);
  await page.getByRole("tab", { name: "New note" }).click();
  await page.getByText("Draft restored").waitFor();
  result.restoredPlan = await page.getByLabel("Plan", { exact: true }).inputValue();
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
  const nurse = await watchedPage(browser, 375);
  pages.push(nurse);
  const nursePage = nurse.page;
  await openChart(nursePage, input.nurse);
  await nursePage.getByRole("tab", { name: "New note" }).click();
  result.nurseKind = await nursePage.getByLabel("Kind of note").inputValue();
  result.nursePhrases = await nursePage.locator("#panel-note .phrase-book").textContent();
  await nursePage.getByLabel("Objective").fill(input.nursing);
  await nursePage.getByRole("button", { name: "Sign note" }).click();
  await nursePage.waitForFunction(() => !document.querySelector("#panel-note textarea[name=objective]")?.value
    || document.querySelector("#panel-note .form-error")?.textContent);
  result.nurseSignError = await nursePage.textContent("#panel-note .form-error");
  await nursePage.getByRole("tab", { name: "Visits" }).click();
  await nursePage.locator("#panel-visits section.note", { hasText: input.nursing }).waitFor();
} catch (error) {
  result.failure = String(error);
  result.formMessages = await formMessages(pages.at(-1).page);
} finally {
  for (const watched of pages) await record(watched);
  await browser.close();
}
console.log(JSON.stringify(result));
