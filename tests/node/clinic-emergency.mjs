// The patient summary (IPS) and emergency (break-glass) access in the clinic app (issue 23;
// headless Chromium). Input on stdin: {"clinic", "chromium", "nsec", "search", "phase",
// "screenshots"}.
// - "summary": the doctor opens the patient's "Summary (IPS)" tab: each section's lines
//   (`sections`: {code: {title, items, empty}}), again with what she reported herself
//   (`withReported`), the FHIR JSON the page downloads (`bundle`), the page printed as PDF
//   (`pdf`), screenshots at 1280 and 375 px.
// - "opt-in" / "withdraw" / "record-hers": under Details, the doctor records her opt-in (by
//   keyboard), her withdrawal, or the opt-in she made herself (`pending`: what the page says
//   of it): the state line `before` and `after`, any `error`, the buttons left, screenshots.
// - "health": the admin's practice health view: the emergency part's text, screenshots; with
//   "variant" "empty" or "unreachable", the gateway's answer replaced (see health()).
// Prints one JSON line.
import { readFile } from "node:fs/promises";
import { launch, login, openPatient, readInput, runAndReport, watchedPage } from "./clinic-page.mjs";

const input = await readInput();
const browser = await launch(input);
const watched = await watchedPage(browser, 1280);
const { page } = watched;
const shot = (name) => `${input.screenshots}/${name}.png`;

// The summary's sections as the page shows them.
const readSections = () => page.locator("#panel-patient-summary #printout .printout-part").evaluateAll((parts) =>
  Object.fromEntries(parts.map((part) => [part.dataset.section, {
    title: part.querySelector("h4")?.textContent ?? "",
    items: [...part.querySelectorAll("li")].map((li) => li.textContent),
    empty: part.querySelector(".empty")?.textContent ?? null,
  }])));

async function summary(result) {
  await login(page, input.clinic, input.nsec);
  await openPatient(page, input.search);
  await page.getByRole("tab", { name: "Summary (IPS)" }).click();
  const panel = page.locator("#panel-patient-summary");
  await panel.locator("#printout").waitFor();
  result.sections = await readSections();
  result.alert = await panel.locator(".form-error").textContent();
  await panel.screenshot({ path: shot("ips-summary-1280px") });
  // The FHIR JSON, as downloaded.
  const [download] = await Promise.all([page.waitForEvent("download"),
    panel.getByRole("button", { name: "Download FHIR JSON" }).click()]);
  result.fileName = download.suggestedFilename();
  result.bundle = JSON.parse(await readFile(await download.path(), "utf8"));
  // Printed: the summary alone.
  await page.emulateMedia({ media: "print" });
  result.pdf = `${input.screenshots}/ips-summary.pdf`;
  await page.pdf({ path: result.pdf, format: "Letter", margin: { top: "15mm", bottom: "15mm", left: "15mm", right: "15mm" } });
  await page.emulateMedia({ media: "screen" });
  // With her own entries, by keyboard.
  const reported = panel.getByLabel("Include what she reported herself in the portal (marked)");
  await reported.focus();
  await page.keyboard.press("Space");
  await page.waitForFunction(() => /reported herself/.test(document.querySelector("#panel-patient-summary .form-status")?.textContent ?? ""));
  result.withReported = await readSections();
  result.scope = await panel.locator(".ips-scope").textContent();
  await page.setViewportSize({ width: 375, height: 800 });
  await panel.screenshot({ path: shot("ips-summary-375px") });
}

const stateLine = () => page.locator("#panel-details section.emergency-access .emergency-state").textContent();

async function decide(result) {
  await login(page, input.clinic, input.nsec);
  await openPatient(page, input.search);
  await page.getByRole("tab", { name: "Details" }).click();
  const section = page.locator("#panel-details section.emergency-access");
  await section.waitFor();
  result.before = await stateLine();
  result.help = await section.locator(".help").first().textContent();
  await section.screenshot({ path: shot(`emergency-before-${input.phase}-1280px`) });
  if (input.phase === "opt-in") {
    // By keyboard: focus the button and press Enter.
    await section.getByRole("button", { name: "Record opt-in to emergency access" }).focus();
    await page.keyboard.press("Enter");
  } else if (input.phase === "record-hers") {
    result.pending = await section.locator(".emergency-pending").textContent();
    await section.getByRole("button", { name: "Record her own opt-in to emergency access" }).click();
  } else {
    await section.getByRole("button", { name: "Withdraw opt-in to emergency access" }).click();
  }
  // The chart is drawn again on the same tab once the plan is published (or an error shows).
  await page.waitForFunction((before) => {
    const box = document.querySelector("#panel-details section.emergency-access");
    const state = box?.querySelector(".emergency-state")?.textContent;
    return (state && state !== before) || box?.querySelector(".form-error")?.textContent;
  }, result.before, { timeout: 60000 });
  result.after = await stateLine();
  result.error = await section.locator(".form-error").first().textContent().catch(() => "");
  result.buttons = await section.getByRole("button").allTextContents();
  await section.screenshot({ path: shot(`emergency-after-${input.phase}-1280px`) });
  await page.setViewportSize({ width: 375, height: 800 });
  await section.screenshot({ path: shot(`emergency-after-${input.phase}-375px`) });
}

// `variant` "empty": the gateway's access log answers an empty Bundle; "unreachable": the
// request fails as if the gateway were down; otherwise the gateway answers itself.
async function health(result) {
  const variant = input.variant ?? "live";
  if (variant === "empty") {
    await page.route("**/admin/access-log?purpose=emergency", (route) => route.fulfill({
      status: 200,
      headers: { "content-type": "application/fhir+json", "access-control-allow-origin": "*" },
      body: JSON.stringify({ resourceType: "Bundle", type: "collection", entry: [] }),
    }));
  } else if (variant === "unreachable") {
    await page.route("**/admin/access-log?purpose=emergency", (route) => route.abort("connectionrefused"));
  }
  await login(page, input.clinic, input.nsec);
  await page.getByRole("button", { name: "Administration" }).click();
  await page.getByRole("button", { name: "Practice health", exact: true }).click();
  const part = page.locator("#administration section.practice-health .health-emergency");
  await part.waitFor();
  await page.waitForFunction(() => {
    const box = document.querySelector("#administration .health-emergency");
    return box && box.querySelectorAll("p").length > 1;
  }, null, { timeout: 30000 });
  result.emergency = await part.innerText();
  await part.screenshot({ path: shot(`health-emergency-${variant}-1280px`) });
  await page.setViewportSize({ width: 375, height: 800 });
  await part.screenshot({ path: shot(`health-emergency-${variant}-375px`) });
}

await runAndReport(browser, watched, async (result) => {
  if (input.phase === "summary") await summary(result);
  else if (input.phase === "health") await health(result);
  else await decide(result);
});
