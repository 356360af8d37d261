// The clinic app's facilities and practice health (issue 21) in headless Chromium, as the admin.
// Input on stdin: {"clinic", "chromium", "nsec", "phase", "facility", "screenshots"}.
// - "register": register `facility` with an API key in Administration; report the key the page
//   shows once, the facilities listed, and screenshots of the section at 1280 and 375 px.
// - "revoke": revoke `facility` (accepting the confirm) and report what the page says.
// - "health": report the practice health section's parts, with a screenshot at 1280 px.
// Prints one JSON line.
import { launch, login, readInput, runAndReport, watchedPage } from "./clinic-page.mjs";

const input = await readInput();
const browser = await launch(input);
const watched = await watchedPage(browser, 1280);
const { page } = watched;
const facilities = page.locator("#administration section.facilities");
const listed = () => facilities.locator("tbody tr").evaluateAll((rows) =>
  rows.map((tr) => [...tr.cells].map((c) => c.textContent)));
const messages = () => facilities.locator(".form-status, .form-error").allTextContents();

async function openAdministration() {
  await login(page, input.clinic, input.nsec);
  await page.getByRole("button", { name: "Administration" }).click();
}

await runAndReport(browser, watched, async (result) => {
  page.on("dialog", (dialog) => { result.asked = dialog.message(); dialog.accept(); });
  await openAdministration();
  if (input.phase === "register") {
    await page.getByRole("button", { name: "Facilities", exact: true }).click();
    await facilities.getByLabel("Facility's client id").fill(input.facility);
    await facilities.getByLabel("How it connects").selectOption("api-key");
    await facilities.getByRole("button", { name: "Register the facility" }).click();
    await page.waitForSelector("#administration .issued-key:not([hidden]) output, #administration section.facilities .form-error:not(:empty)");
    result.messages = await messages();
    result.key = await facilities.locator(".issued-key output").textContent().catch(() => "");
    result.note = await facilities.locator(".issued-key").textContent().catch(() => "");
    // The list is drawn again after the key is shown.
    await page.waitForFunction((id) => [...document.querySelectorAll("#administration section.facilities tbody tr")]
      .some((row) => row.cells[0]?.textContent === id), input.facility).catch(() => {});
    result.facilities = await listed();
    await facilities.screenshot({ path: `${input.screenshots}/administration-facilities-1280px.png` });
    await page.setViewportSize({ width: 375, height: 800 });
    await facilities.screenshot({ path: `${input.screenshots}/administration-facilities-375px.png` });
  } else if (input.phase === "revoke") {
    await page.getByRole("button", { name: "Facilities", exact: true }).click();
    await facilities.getByRole("button", { name: `Revoke ${input.facility}`, exact: true }).click();
    await page.waitForFunction(() => {
      const box = document.querySelector("#administration section.facilities");
      return /was revoked/.test(box?.querySelector(".form-status")?.textContent ?? "")
        || box?.querySelector(".form-error")?.textContent;
    }, null, { timeout: 30000 });
    result.messages = await messages();
    result.facilities = await listed();
  } else {
    await page.getByRole("button", { name: "Practice health", exact: true }).click();
    const health = page.locator("#administration section.practice-health");
    await health.waitFor();
    const text = (selector) => health.locator(selector).innerText().catch(() => "");
    result.roster = await text(".health-roster");
    result.rotation = await text(".health-rotation");
    result.relay = await text(".health-relay");
    result.gateway = await text(".health-gateway");
    result.outbox = await text(".outbox-health");
    result.warnings = await health.locator(".warning, .form-error:not(:empty)").allTextContents();
    await health.screenshot({ path: `${input.screenshots}/administration-health-1280px.png` });
    await page.setViewportSize({ width: 375, height: 800 });
    await health.screenshot({ path: `${input.screenshots}/administration-health-375px.png` });
  }
});
