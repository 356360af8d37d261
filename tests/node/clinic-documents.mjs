// Drives the clinic app's document upload in headless Chromium: the doctor opens a chart,
// chooses a file under Documents, and it is encrypted, uploaded and recorded. Input on stdin:
// {"clinic", "chromium", "doctor", "search", "file": {"name", "mimeType", "text", "title"},
// "screenshot"}. Prints one JSON line: what the page showed and every request it made.
import { formMessages, launch, login, openPatient, readInput, watchedPage } from "./clinic-page.mjs";

const input = await readInput();
const browser = await launch(input);
const { page, log, violations } = await watchedPage(browser, 1280);
const result = {};
try {
  await login(page, input.clinic, input.doctor);
  await openPatient(page, input.search);
  await page.getByRole("tab", { name: "Documents" }).click();
  await page.getByLabel("File").setInputFiles({
    name: input.file.name, mimeType: input.file.mimeType, buffer: Buffer.from(input.file.text),
  });
  await page.getByLabel("Title").fill(input.file.title);
  await page.getByRole("button", { name: "Encrypt, upload and record" }).click();
  // Recorded (the chart drawn again lists it, the form empty), or refused with a reason.
  await page.waitForFunction((title) => {
    const panel = document.querySelector("#panel-documents");
    const listed = [...(panel?.querySelectorAll("th, td, li, h4, h5") ?? [])].some((n) => n.textContent.includes(title));
    return (listed && !panel.querySelector(".form-status")?.textContent)
      || panel?.querySelector(".form-error")?.textContent;
  }, input.file.title);
  result.formErrors = await page.$$eval("#panel-documents .form-error", (ps) => ps.map((p) => p.textContent));
  if (input.screenshot) await page.screenshot({ path: input.screenshot, fullPage: true });
} catch (error) {
  result.failure = String(error);
  result.formMessages = await formMessages(page);
} finally {
  result.violations = await violations();
  Object.assign(result, log);
  await browser.close();
}
console.log(JSON.stringify(result));
