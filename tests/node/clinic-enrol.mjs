// Enrolment in the clinic app, then the patient's first portal login (headless Chromium): the
// admin enrols a new patient with a new key, reads the handover sheet (the practice connection
// and her ncryptsec, as QR codes and text) and the password shown apart from it, prints the
// sheet to PDF; then, in a fresh phone-sized browser, she logs in to the portal with the
// sheet's connection string, ncryptsec and password. Input on stdin: {"clinic", "portal",
// "chromium", "nsec", "given", "family", "birthDate", "pdf", "screenshots": {"wide", "narrow",
// "portal"}}. Prints one JSON line.
import { launch, login, readInput, runAndReport, watchedPage } from "./clinic-page.mjs";

const input = await readInput();
const browser = await launch(input);
const watched = await watchedPage(browser, 1280);
const { page } = watched;
await runAndReport(browser, watched, async (result) => {
  await login(page, input.clinic, input.nsec);
  await page.getByRole("button", { name: "Administration" }).click();
  await page.getByRole("button", { name: "Enrol a patient", exact: true }).click();
  const section = page.locator("#administration section.enrolment");
  await section.getByLabel("Given names").waitFor();
  await section.getByLabel("Given names").fill(input.given);
  await section.getByLabel("Family name").fill(input.family);
  await section.getByLabel("Date of birth").fill(input.birthDate);
  await section.getByLabel("Sex (administrative)").selectOption("female");
  await section.getByRole("button", { name: "Enrol" }).click();
  await page.waitForSelector("#handover-sheet, section.enrolment .form-error:not(:empty)", { timeout: 60000 });
  result.status = await section.locator(".form-status, .form-error").allTextContents();
  result.password = await section.locator(".handover-password .password code").textContent();
  result.connection = await section.locator(".handover-connection .handover-text code").textContent();
  result.ncryptsec = await section.locator(".handover-key .handover-text code").textContent();
  result.qrCodes = await section.locator("#handover-sheet svg.qr path").count();
  result.sheetHasPassword = (await section.locator("#handover-sheet").textContent()).includes(result.password);
  result.focused = await page.evaluate(() => document.activeElement?.textContent);
  await page.screenshot({ path: input.screenshots.wide, fullPage: true });
  await page.pdf({ path: input.pdf, format: "Letter", margin: { top: "15mm", bottom: "15mm", left: "15mm", right: "15mm" } });
  await page.setViewportSize({ width: 375, height: 800 });
  await section.locator("#handover-sheet").screenshot({ path: input.screenshots.narrow });

  // Her first login, on her phone, with what the sheet and the desk gave her.
  const phone = await browser.newContext({ viewport: { width: 375, height: 800 } });
  const portal = await phone.newPage();
  await portal.goto(input.portal);
  await portal.getByLabel("Practice connection string").fill(result.connection);
  await portal.getByLabel("Your secret key (nsec)").fill(result.ncryptsec);
  await portal.getByLabel("Password of your encrypted key (ncryptsec)").waitFor({ state: "visible" });
  await portal.getByLabel("Password of your encrypted key (ncryptsec)").fill(result.password);
  await portal.getByLabel("Password of your encrypted key (ncryptsec)").press("Enter");
  await portal.waitForSelector("#chart:not([hidden]), #error:not(:empty)", { timeout: 60000 });
  result.portal = {
    error: await portal.textContent("#error"),
    chart: await portal.locator("#chart").innerText().catch(() => ""),
  };
  await portal.screenshot({ path: input.screenshots.portal, fullPage: true });
  await phone.close();
  // "Done" clears the sheet and the password and lists her.
  await page.setViewportSize({ width: 1280, height: 900 });
  await section.getByRole("button", { name: "Done: update the patient list" }).click();
  // The practice is loaded again: the administration says so above its parts.
  await page.waitForFunction(() => !document.querySelector("#handover-sheet")
    && /was enrolled/.test(document.querySelector("#administration .admin-message")?.textContent ?? ""));
  result.passwordLeft = (await page.locator("body").textContent()).includes(result.password);
  await page.getByRole("button", { name: "Patients" }).click();
  await page.getByLabel("Find a patient").fill(input.given);
  result.listed = await page.locator("#patient-rows").innerText();
});
