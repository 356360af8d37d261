// Drives the clinic app's problem, prescription, order/result and immunization-forecast forms
// in headless Chromium (Debian's, through playwright-core), by keyboard where a clinician
// would: the doctor opens Maria, adds a problem from the picker, prescribes amoxicillin and
// gets the allergy alert, confirms, orders a lipid panel, enters its result and sees the flag;
// then opens Mateo and reads the immunization forecast. Input on stdin: {"clinic",
// "chromium", "nsec", "maria", "mateo", "shots": {"alert", "alertNarrow", "forecast",
// "forecastNarrow", "results"?}}. Prints one JSON line with what the page showed and every request made.
import { formMessages, launch, login, openPatient, readInput, watchedPage } from "./clinic-page.mjs";

const input = await readInput();
const browser = await launch(input);
const WIDE = { width: 1280, height: 900 };
const NARROW = { width: 375, height: 800 };

// Type into a picker, take the first match with the keyboard; the picker's state line.
async function pick(scope, label, text) {
  // An <input> combobox (a <select> is one too).
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

async function run() {
  const { context, page, log, violations } = await watchedPage(browser, 1280);
  const result = {};
  try {
    await login(page, input.clinic, input.nsec);
    await openPatient(page, input.maria);
    result.maria = await page.textContent("#chart-heading");

    // A problem from the picker, by keyboard.
    await page.getByRole("tab", { name: "Problems" }).click();
    const problems = page.locator("#panel-problems");
    result.problem = await pick(problems, "Problem", "asthma");
    await problems.getByRole("button", { name: "Add problem" }).click();
    await problems.locator("table tbody tr", { hasText: result.problem.value }).waitFor();
    result.problemRows = await problems.locator("table tbody tr").allTextContents();

    // Amoxicillin against her penicillin allergy: the alert, then the confirmation.
    await page.getByRole("tab", { name: "Medications" }).click();
    const meds = page.locator("#panel-medications");
    result.medication = await pick(meds, "Medication", "amoxicillin 250");
    await meds.getByLabel("Dose", { exact: true }).fill("1");
    await meds.getByLabel("Frequency").selectOption("TID");
    await meds.getByLabel("Duration (days)").fill("10");
    await meds.getByLabel("Quantity", { exact: true }).fill("30");
    result.unit = await meds.getByLabel("Unit", { exact: true }).inputValue();
    await meds.getByRole("button", { name: "Prescribe", exact: true }).click();
    const alert = meds.locator("form.prescribe .form-error");
    await alert.waitFor({ state: "visible" });
    result.alert = await alert.textContent();
    const form = meds.locator("form.prescribe");
    await form.scrollIntoViewIfNeeded();
    await form.screenshot({ path: input.shots.alert });
    await page.setViewportSize(NARROW);
    await form.screenshot({ path: input.shots.alertNarrow });
    result.narrowOverflow = await page.evaluate(() => document.documentElement.scrollWidth > window.innerWidth);
    await page.setViewportSize(WIDE);
    await meds.getByRole("button", { name: "Prescribe anyway" }).click();
    // The chart is drawn again from the relay: the new prescription is listed.
    await panelShows(page, "1 capsule by mouth three times daily for 10 days");
    result.currentMedications = await meds.locator("table.current tbody tr").allTextContents();

    // A lipid panel: order, results with the flag as typed, the flagged report.
    await page.getByRole("tab", { name: "Orders & results" }).click();
    const orders = page.locator("#panel-orders");
    result.test = await pick(orders, "Test or study", "lipid");
    await orders.getByRole("button", { name: "Place order" }).click();
    const results = orders.locator("section.entry", { hasText: "Enter results" });
    await results.getByLabel("Cholesterol [Mass/volume] in Serum or Plasma (mg/dL)").fill("245");
    result.liveFlag = await results.locator(".analyte", { hasText: "Cholesterol [Mass/volume]" }).locator(".flag").textContent();
    result.range = await results.locator(".analyte", { hasText: "Cholesterol [Mass/volume]" }).locator(".help").textContent();
    await results.getByLabel("Cholesterol in HDL [Mass/volume] in Serum or Plasma (mg/dL)").fill("52");
    await results.getByRole("button", { name: "Save results" }).click();
    await orders.locator("article.order", { hasText: "Lipid panel" }).locator("table.result-flags").waitFor();
    result.flagRows = await orders.locator("article.order", { hasText: "Lipid panel" }).locator("table.result-flags tbody tr")
      .evaluateAll((trs) => trs.map((tr) => [...tr.cells].map((c) => c.textContent)));
    result.orderMeta = await orders.locator("article.order", { hasText: "Lipid panel" }).locator(".meta").first().textContent();
    if (input.shots.results) await page.locator("#panel-orders").screenshot({ path: input.shots.results });

    // Mateo: the forecast above the immunization form.
    await page.getByRole("button", { name: /back to the patient list/i }).click();
    await openPatient(page, input.mateo);
    result.mateo = await page.textContent("#chart-heading");
    // The Summary (the tab a chart opens on) names the doses overdue or due now.
    await page.getByRole("tab", { name: "Summary", exact: true }).click();
    await page.locator("#panel-summary h3", { hasText: "Immunizations due" }).waitFor();
    result.summaryDue = await page.locator("#panel-summary .due-immunizations li").allTextContents();
    await page.getByRole("tab", { name: "Immunizations" }).click();
    const forecast = page.locator("#panel-immunizations section.forecast");
    await forecast.waitFor();
    result.forecastSummary = await forecast.locator(".forecast-summary").textContent();
    result.forecastRows = await forecast.locator("tbody tr")
      .evaluateAll((trs) => trs.map((tr) => [...tr.cells].map((c) => c.textContent)));
    // The form comes once the vaccine list has loaded.
    await page.locator("#panel-immunizations form").last().waitFor();
    result.formBelowForecast = await page.evaluate(() => {
      const f = document.querySelector("#panel-immunizations section.forecast");
      const form = [...document.querySelectorAll("#panel-immunizations form")].at(-1);
      return Boolean(f && form && (f.compareDocumentPosition(form) & Node.DOCUMENT_POSITION_FOLLOWING));
    });
    await forecast.screenshot({ path: input.shots.forecast });
    await page.setViewportSize(NARROW);
    await forecast.screenshot({ path: input.shots.forecastNarrow });
  } catch (error) {
    result.failure = String(error);
    result.formMessages = await formMessages(page);
  } finally {
    result.violations = await violations();
    Object.assign(result, log);
    await context.close();
  }
  return result;
}

try {
  console.log(JSON.stringify(await run()));
} finally {
  await browser.close();
}
