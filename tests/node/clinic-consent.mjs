// Sharing through the FHIR gateway, recorded in the clinic app (headless Chromium): the doctor
// opens the patient's Details and records her consent for a facility until a date ("grant"),
// or records her withdrawal ("withdraw"). Input on stdin: {"clinic", "chromium", "nsec",
// "search", "phase", "facility", "until"}. Prints one JSON line.
import { launch, login, openPatient, readInput, runAndReport, watchedPage } from "./clinic-page.mjs";

const input = await readInput();
const browser = await launch(input);
const watched = await watchedPage(browser, 1280);
const { page } = watched;
await runAndReport(browser, watched, async (result) => {
  await login(page, input.clinic, input.nsec);
  await openPatient(page, input.search);
  await page.getByRole("tab", { name: "Details" }).click();
  const sharing = page.locator("#panel-details section.sharing");
  result.before = await sharing.locator(".sharing-state").textContent();
  if (input.phase === "grant") {
    await sharing.getByLabel("Facility's FHIR client id").fill(input.facility);
    await sharing.getByLabel("Until (optional)").fill(input.until);
    await sharing.getByRole("button", { name: "Record her consent" }).click();
  } else {
    await sharing.getByRole("button", { name: "Record her withdrawal" }).click();
  }
  // The chart is drawn again on the same tab once the plan is published (or an error shows).
  await page.waitForFunction((before) => {
    const state = document.querySelector("#panel-details section.sharing .sharing-state")?.textContent;
    const error = document.querySelector("#panel-details section.sharing .form-error")?.textContent;
    return (state && state !== before) || error;
  }, result.before, { timeout: 60000 });
  result.after = await page.locator("#panel-details section.sharing .sharing-state").textContent();
  result.error = await page.locator("#panel-details section.sharing .form-error").first().textContent().catch(() => "");
});
