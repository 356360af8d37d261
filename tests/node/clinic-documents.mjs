// Drives the clinic app's document upload in headless Chromium: the doctor opens a chart,
// chooses a file under Documents, and it is encrypted, uploaded and recorded. Input on stdin:
// {"clinic", "chromium", "doctor", "search", "file": {"name", "mimeType", "text"}, "screenshot"}.
// Prints one JSON line: what the page showed and every request it made.
import { chromium } from "playwright-core";

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const input = JSON.parse(Buffer.concat(chunks).toString("utf8"));
const browser = await chromium.launch({ executablePath: input.chromium, args: ["--no-sandbox"] });
const result = { errors: [], requests: [] };
try {
  const page = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
  page.on("console", (m) => { if (m.type() === "error") result.errors.push(m.text()); });
  page.on("pageerror", (e) => result.errors.push(String(e)));
  page.on("request", (r) => result.requests.push(`${r.method()} ${r.url()}`));
  await page.addInitScript(() => {
    window.__violations = [];
    document.addEventListener("securitypolicyviolation", (e) =>
      window.__violations.push(`${e.violatedDirective} ${e.blockedURI}`));
  });
  await page.goto(input.clinic);
  await page.getByLabel("Your secret key").fill(input.doctor);
  await page.getByLabel("Your secret key").press("Enter");
  await page.getByLabel("Find a patient").fill(input.search);
  await page.getByLabel("Find a patient").press("Enter");
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
  result.panel = await page.textContent("#panel-documents");
  result.formErrors = await page.$$eval("#panel-documents .form-error", (ps) => ps.map((p) => p.textContent));
  if (input.screenshot) await page.screenshot({ path: input.screenshot, fullPage: true });
  result.violations = await page.evaluate(() => window.__violations);
} catch (error) {
  result.failure = String(error);
  for (const context of browser.contexts()) {
    for (const page of context.pages()) {
      result.formMessages = await page.$$eval(".form-error, .form-status", (ps) => ps.map((p) => p.textContent)).catch(() => []);
    }
  }
} finally {
  await browser.close();
}
console.log(JSON.stringify(result));
