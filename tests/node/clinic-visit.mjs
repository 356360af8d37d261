// A doctor's whole visit in the clinic app, in headless Chromium (Debian's, through
// playwright-core), logged in through a NIP-07 extension (nostr-tools in Node behind
// window.nostr, so the key never enters the page): she opens Maria, enters vitals, writes a
// note from a template and signs it, adds a problem, prescribes amoxicillin past the allergy
// alert, orders a lipid panel and enters its result, and signs an addendum to the note.
// Input on stdin: {"clinic", "chromium", "doctor" (nsec), "search", "vitals": {label: value},
// "problem", "medication", "test", "results": {label: value}, "plan", "addendum",
// "screenshot"}. Prints one JSON line with what the page showed, what it asked of the
// extension and every request it made.
import { formMessages, launch, nip07Extension, openPatient, readInput, watchedPage } from "./clinic-page.mjs";

const input = await readInput();
const browser = await launch(input);

// Type into a picker, take the first match with the keyboard; the picker's state line.
async function pick(scope, label, text) {
  const box = scope.getByRole("combobox", { name: label }).and(scope.locator("input"));
  await box.fill(text);
  await box.press("ArrowDown");
  await box.press("Enter");
  return { value: await box.inputValue(), state: await box.locator("xpath=..").locator(".picker-state").textContent() };
}

// Wait until the chart has been drawn again with `text` in the visible panel.
async function panelShows(page, text) {
  await page.waitForFunction((t) => [...document.querySelectorAll("[role=tabpanel]:not([hidden])")]
    .some((p) => p.textContent.includes(t)), text, { timeout: 20000 });
}

const { context, page, log, violations } = await watchedPage(browser, 1280, 1000);
const result = {};
let asked = null;
try {
  asked = await nip07Extension(page, input.doctor);
  await page.goto(input.clinic);
  await page.getByRole("button", { name: "Log in with a browser extension (NIP-07)" }).click();
  await page.waitForSelector("#workspace:not([hidden]), #error:not(:empty)", { timeout: 60000 });
  result.error = await page.textContent("#error");
  result.askedAtLogin = { ...asked };
  await openPatient(page, input.search);
  result.heading = await page.textContent("#chart-heading");

  // Vitals first, so the note's template fills them in.
  await page.getByRole("tab", { name: "Vitals" }).click();
  const vitals = page.locator("#panel-vitals form.vitals-entry");
  await vitals.waitFor();
  for (const [label, unit] of Object.entries({ "Weight unit": "kg", "Height unit": "cm", "Temperature unit": "C" })) {
    await vitals.getByLabel(label, { exact: true }).selectOption(unit);
  }
  for (const [label, value] of Object.entries(input.vitals)) await vitals.getByLabel(label, { exact: true }).fill(value);
  await vitals.getByRole("button", { name: "Save vitals" }).click();
  await panelShows(page, `${input.vitals["Heart rate (/min)"]} /min`);

  // The note from a template, signed.
  await page.getByRole("tab", { name: "New note" }).click();
  await page.getByLabel("Template").selectOption({ label: "Chronic care follow-up" });
  result.subjective = await page.getByLabel("Subjective").inputValue();
  result.objective = await page.getByLabel("Objective").inputValue();
  result.assessment = await page.getByLabel("Assessment").inputValue();
  await page.getByLabel("Plan").fill(input.plan);
  await page.getByRole("button", { name: "Sign note" }).click();
  // Once published, the chart is drawn again on the note tab, with an empty form.
  await page.waitForFunction(() => !document.querySelector("#panel-note textarea[name=plan]")?.value
    || document.querySelector("#panel-note .form-error")?.textContent);
  result.signError = await page.textContent("#panel-note .form-error");
  await page.getByRole("tab", { name: "Visits" }).click();
  await page.locator("#panel-visits section.note", { hasText: input.plan }).waitFor();

  // A problem from the picker.
  await page.getByRole("tab", { name: "Problems" }).click();
  const problems = page.locator("#panel-problems");
  result.problem = await pick(problems, "Problem", input.problem);
  await problems.getByRole("button", { name: "Add problem" }).click();
  await problems.locator("table tbody tr", { hasText: result.problem.value }).waitFor();

  // A drug her penicillin allergy covers: the alert, then the confirmation.
  await page.getByRole("tab", { name: "Medications" }).click();
  const meds = page.locator("#panel-medications");
  result.medication = await pick(meds, "Medication", input.medication);
  await meds.getByLabel("Dose", { exact: true }).fill("1");
  await meds.getByLabel("Frequency").selectOption("TID");
  await meds.getByLabel("Duration (days)").fill("10");
  await meds.getByLabel("Quantity", { exact: true }).fill("30");
  await meds.getByRole("button", { name: "Prescribe", exact: true }).click();
  const alert = meds.locator("form.prescribe .form-error");
  await alert.waitFor({ state: "visible" });
  result.alert = await alert.textContent();
  await meds.getByRole("button", { name: "Prescribe anyway" }).click();
  await panelShows(page, "1 capsule by mouth three times daily for 10 days");

  // A lab order, and its result entered against it.
  await page.getByRole("tab", { name: "Orders & results" }).click();
  const orders = page.locator("#panel-orders");
  result.test = await pick(orders, "Test or study", input.test);
  await orders.getByRole("button", { name: "Place order" }).click();
  const entry = orders.locator("section.entry", { hasText: "Enter results" });
  for (const [label, value] of Object.entries(input.results)) await entry.getByLabel(label).fill(value);
  await entry.getByRole("button", { name: "Save results" }).click();
  const order = orders.locator("article.order", { hasText: "Lipid panel" });
  await order.locator("table.result-flags").waitFor();
  result.orderMeta = await order.locator(".meta").first().textContent();

  // The addendum under the signed note.
  await page.getByRole("tab", { name: "Visits" }).click();
  const signed = page.locator("#panel-visits section.note", { hasText: input.plan });
  await signed.getByText("Add an addendum").click();
  await signed.getByLabel("Addendum").fill(input.addendum);
  await signed.getByRole("button", { name: "Sign addendum" }).click();
  await page.locator("#panel-visits section.addendum", { hasText: input.addendum }).waitFor();

  // The timeline: today's block lists what the visit wrote.
  await page.getByRole("tab", { name: "Timeline" }).click();
  const todayBlock = page.locator("#panel-timeline .timeline-day").first();
  await todayBlock.waitFor();
  result.timelineToday = await todayBlock.textContent();
  if (input.timelineScreenshot) await page.locator("#panel-timeline").screenshot({ path: input.timelineScreenshot });

  await page.getByRole("tab", { name: "Summary", exact: true }).click();
  await page.locator("#panel-summary").waitFor();
  await page.screenshot({ path: input.screenshot, fullPage: true });
  // What the forms say once all is saved: errors there would be a write that failed.
  result.formErrors = await page.$$eval(".form-error, .tab-error, #error", (ps) =>
    ps.map((p) => p.textContent).filter(Boolean));
} catch (error) {
  result.failure = String(error);
  result.pageError = await page.textContent("#error").catch(() => null);
  result.formMessages = await formMessages(page);
} finally {
  result.asked = asked;
  result.violations = await violations();
  Object.assign(result, log);
  await context.close();
  await browser.close();
}
console.log(JSON.stringify(result));
