// The front desk edits Dr. Rivera's schedule in the clinic app (headless Chromium): Schedule →
// Hours and visit types → Edit; a whole day off and a new visit type "Vaccine only" (15 min)
// are added; an edit whose hours end before they start is refused with the rule and nothing is
// published; put right, it is saved. Then the schedule of the day off is drawn. Screenshots of
// the editor at 1280 px and at 375 px.
// Input on stdin: {"clinic", "chromium", "frontdesk", "day" (seconds, the day off's UTC
// midnight), "schedule" (its name), "screenshots": {"wide", "wideError", "wideList", "phone"}}. Prints one
// JSON line.
import { launch, login, readInput, runAndReport, watchedPage } from "./clinic-page.mjs";

const input = await readInput();
input.day = new Date(input.day * 1000).toISOString().slice(0, 10);
const browser = await launch(input);
const watched = await watchedPage(browser, 1280, 1000);
const { page } = watched;
const exact = (text) => new RegExp(`^${text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}`);

// Schedule → Hours and visit types → Edit the schedule: its form.
async function openEditor(on) {
  await on.getByRole("button", { name: "Schedule", exact: true }).click();
  await on.getByRole("button", { name: "Hours and visit types" }).click();
  await on.locator("#schedule table.schedule-list").waitFor();
  const list = await on.locator("#schedule table.schedule-list").innerText();
  await on.getByRole("button", { name: exact(`Edit ${input.schedule}`) }).click();
  const form = on.locator("#schedule form.schedule-form");
  await form.waitFor();
  return [list, form];
}

// The events the page sends to the relay.
const sent = [];
page.on("websocket", (ws) => ws.on("framesent", (f) => { if (String(f.payload).startsWith('["EVENT"')) sent.push(f.payload); }));

await runAndReport(browser, watched, async (result) => {
  await login(page, input.clinic, input.frontdesk);
  const [list, form] = await openEditor(page);
  result.list = list;
  result.focused = await page.evaluate(() => document.activeElement?.textContent ?? "");

  // A whole day off, from the keyboard: Add time off, then its first day (focused).
  await form.getByRole("button", { name: "Add time off" }).press("Enter");
  const off = form.getByRole("group", { name: "Time off 1" });
  result.offFocused = await page.evaluate(() => document.activeElement?.getAttribute("type") ?? "");
  await off.getByLabel("From day").fill(input.day);
  await off.getByLabel("From day").dispatchEvent("change");
  await off.getByLabel("To day").fill(input.day);
  await off.getByLabel("Reason (staff only)").fill("Training day");
  // A new visit type.
  await form.getByRole("button", { name: "Add a visit type" }).click();
  const visit = form.getByRole("group", { name: "Visit type 4" });
  await visit.getByLabel("Label", { exact: true }).fill("Vaccine only");
  await visit.getByLabel("Code").fill("vaccine");
  await visit.getByLabel("Minutes").fill("15");

  // Hours that end before they start: refused, with the rule; nothing is sent.
  const hours = form.getByRole("group", { name: "Hours 1" });
  await hours.getByLabel("To").fill("07:00");
  const before = sent.length;
  await form.getByRole("button", { name: "Save" }).click();
  await page.waitForFunction(() => /Not saved/.test(document.querySelector("#schedule form [role=alert]")?.textContent ?? ""), null, { timeout: 30000 });
  result.refused = await form.getByRole("alert").textContent();
  result.sentOnRefusal = sent.length - before;
  await page.screenshot({ path: input.screenshots.wideError, fullPage: true });

  // Put right and saved.
  await hours.getByLabel("To").fill("17:00");
  await page.screenshot({ path: input.screenshots.wide, fullPage: true });
  await form.getByRole("button", { name: "Save" }).click();
  await page.waitForFunction(() => /Saved:|Not saved/.test(document.querySelector("#schedule")?.textContent ?? ""), null, { timeout: 60000 });
  result.saved = await page.locator("#schedule .form-status, #schedule .form-error").allTextContents();
  result.listAfter = await page.locator("#schedule table.schedule-list").innerText();
  result.focusedAfter = await page.evaluate(() => document.activeElement?.textContent ?? "");
  await page.screenshot({ path: input.screenshots.wideList, fullPage: true });

  // The same schedule at 375 px: the day off and the new visit type are there.
  const context = await browser.newContext({ viewport: { width: 375, height: 800 } });
  const phone = await context.newPage();
  result.phoneErrors = [];
  phone.on("console", (m) => { if (m.type() === "error") result.phoneErrors.push(m.text()); });
  phone.on("pageerror", (e) => result.phoneErrors.push(String(e)));
  await login(phone, input.clinic, input.frontdesk);
  const [, phoneForm] = await openEditor(phone);
  result.phoneVisit = await phoneForm.getByRole("group", { name: "Visit type 4" }).getByLabel("Label", { exact: true }).inputValue();
  result.phoneOff = await phoneForm.getByRole("group", { name: "Time off 1" }).getByLabel("From day").inputValue();
  result.phoneWidth = await phone.evaluate(() => document.documentElement.scrollWidth);
  await phone.screenshot({ path: input.screenshots.phone, fullPage: true });
  await context.close();

  // Back to the schedule, on the day off.
  await page.getByRole("button", { name: "Back to the schedule" }).click();
  await page.getByLabel("Day", { exact: true }).fill(input.day);
  await page.getByLabel("Day", { exact: true }).dispatchEvent("change");
  await page.waitForFunction(() => /Appointments on/.test(document.querySelector("#schedule")?.textContent ?? ""), null, { timeout: 30000 });
  result.dayOff = await page.locator("#schedule").innerText();
});
