// Scheduling end to end in headless Chromium: Maria requests a sick visit in the portal (375
// px); the front desk confirms it in the clinic app's schedule (1280 px), then tries to confirm
// another patient's request for the same time, which the relay refuses (the first
// confirmation won) and the app declines with the reason; Maria sees hers booked. Once she has
// arrived, the doctor presses "Start visit note" on her row and signs the visit's note, whose
// Encounter names the appointment. Input on stdin: {"clinic", "portal", "chromium",
// "connection", "maria", "frontdesk", "doctorKey", "day", "mariaName", "otherName", "note",
// "screenshots": {"clinic", "portal", "week", "visit"}}. Prints one JSON line.
import { launch, login, readInput, runAndReport, watchedPage } from "./clinic-page.mjs";

const input = await readInput();
input.day = new Date(input.day * 1000).toISOString().slice(0, 10);
const browser = await launch(input);
const watched = await watchedPage(browser, 1280, 1000);
const { page } = watched;

// Maria in the portal, on her Appointments tab.
async function portalAppointments(phone) {
  await phone.goto(input.portal);
  await phone.getByLabel("Practice connection string").fill(input.connection);
  await phone.getByLabel("Your secret key (nsec)").fill(input.maria);
  await phone.getByLabel("Your secret key (nsec)").press("Enter");
  await phone.waitForSelector("#chart:not([hidden]), #error:not(:empty)");
  await phone.getByRole("tab", { name: "Appointments" }).click();
  return phone.locator("#panel-appointments");
}

await runAndReport(browser, watched, async (result) => {
  const phoneContext = await browser.newContext({ viewport: { width: 375, height: 800 } });
  const phone = await phoneContext.newPage();
  result.phoneErrors = [];
  phone.on("console", (m) => { if (m.type() === "error") result.phoneErrors.push(m.text()); });
  phone.on("pageerror", (e) => result.phoneErrors.push(String(e)));
  phone.on("dialog", (dialog) => dialog.accept());
  let panel = await portalAppointments(phone);
  await panel.getByLabel("Kind of visit").selectOption("sick");
  await panel.getByLabel("Day").fill(input.day);
  await panel.getByLabel("Day").dispatchEvent("change");
  const first = panel.locator(".request-times button").first();
  result.requestedTime = await first.getAttribute("aria-label");
  await first.click();
  await phone.waitForFunction(() => /Requested|Not requested/.test(document.querySelector("#panel-appointments")?.textContent ?? ""),
    null, { timeout: 60000 });
  panel = phone.locator("#panel-appointments");
  result.portalAfterRequest = await panel.locator("ul.appointments").first().innerText().catch(() => "");

  // The doctor watches the same day's schedule on her own screen.
  const doctorContext = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const doctor = await doctorContext.newPage();
  await login(doctor, input.clinic, input.doctorKey);
  await doctor.getByRole("button", { name: "Schedule" }).click();
  await doctor.getByLabel("Day").fill(input.day);
  await doctor.getByLabel("Day").dispatchEvent("change");
  await doctor.locator("#schedule table").first().waitFor();

  // The front desk confirms hers, then the other patient's for the same time.
  await login(page, input.clinic, input.frontdesk);
  await page.getByRole("button", { name: "Schedule" }).click();
  await page.getByLabel("Day").fill(input.day);
  await page.getByLabel("Day").dispatchEvent("change");
  await page.locator("#schedule table").first().waitFor();
  result.requestRows = await page.$$eval("#schedule table:first-of-type tbody tr", (rows) => rows.map((r) => r.innerText));
  await page.getByRole("button", { name: new RegExp(`^Confirm: ${input.mariaName.replace(/[()]/g, ".")}`) }).click();
  await page.waitForFunction(() => /is booked|Not done/.test(document.querySelector("#schedule")?.textContent ?? ""), null, { timeout: 60000 });
  result.confirmed = await page.locator("#schedule .form-status, #schedule .form-error").allTextContents();
  await page.getByRole("button", { name: new RegExp(`^Confirm: ${input.otherName.replace(/[()]/g, ".")}`) }).click();
  await page.waitForFunction(() => /just taken|Not done/.test(document.querySelector("#schedule")?.textContent ?? ""), null, { timeout: 60000 });
  result.second = await page.locator("#schedule .form-status, #schedule .form-error").allTextContents();
  result.day = await page.$$eval("#schedule table", (tables) => tables.map((t) => t.innerText));
  await page.screenshot({ path: input.screenshots.clinic, fullPage: true });
  // The doctor's screen shows the booking without a reload (a live subscription).
  await doctor.waitForFunction((name) => [...document.querySelectorAll("#schedule table tbody tr")]
    .some((row) => row.textContent.includes(name) && row.textContent.includes("booked")), input.mariaName, { timeout: 30000 });
  result.doctorSees = await doctor.$$eval("#schedule table", (tables) => tables.map((t) => t.innerText));
  await doctorContext.close();
  // Maria's appointment moves to the first free time of the day.
  await page.getByRole("button", { name: new RegExp(`^Move: ${input.mariaName.replace(/[()]/g, ".")}`) }).click();
  await page.getByLabel("New time").selectOption({ index: 0 });
  result.movedTo = await page.getByLabel("New time").locator("option").first().textContent();
  await page.getByRole("button", { name: /^Move here/ }).click();
  await page.waitForFunction(() => /was moved|Not done/.test(document.querySelector("#schedule")?.textContent ?? ""), null, { timeout: 60000 });
  result.moved = await page.locator("#schedule .form-status, #schedule .form-error").allTextContents();
  result.dayAfterMove = await page.$$eval("#schedule table", (tables) => tables.map((t) => t.innerText));
  await page.getByRole("button", { name: "Week", exact: true }).click();
  await page.locator("#schedule .schedule-week").waitFor();
  result.week = await page.locator("#schedule .schedule-week").innerText();
  await page.screenshot({ path: input.screenshots.week, fullPage: true });

  // Maria sees it booked.
  panel = await portalAppointments(phone);
  result.portalAfterBooking = await panel.locator("ul.appointments").first().innerText().catch(() => "");
  await phone.screenshot({ path: input.screenshots.portal, fullPage: true });
  await phoneContext.close();

  // She arrives: the desk says so on the day's view.
  const maria = input.mariaName.replace(/[()]/g, ".");
  await page.getByRole("button", { name: "Day", exact: true }).click();
  await page.getByRole("button", { name: new RegExp(`^Arrived: ${maria}`) }).click();
  await page.waitForFunction(() => /Arrived: done|Not done/.test(document.querySelector("#schedule")?.textContent ?? ""), null, { timeout: 60000 });
  result.arrived = await page.locator("#schedule .form-status, #schedule .form-error").allTextContents();
  result.appointmentId = await page.locator("#schedule tr[data-appointment]", { hasText: input.mariaName })
    .first().getAttribute("data-appointment");
  // The doctor starts the visit's note from the schedule, writes it and signs it.
  const visitContext = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const visit = await visitContext.newPage();
  result.visitErrors = [];
  visit.on("console", (m) => { if (m.type() === "error") result.visitErrors.push(m.text()); });
  visit.on("pageerror", (e) => result.visitErrors.push(String(e)));
  await login(visit, input.clinic, input.doctorKey);
  await visit.getByRole("button", { name: "Schedule" }).click();
  await visit.getByLabel("Day").fill(input.day);
  await visit.getByLabel("Day").dispatchEvent("change");
  await visit.locator("#schedule table").first().waitFor();
  const start = visit.getByRole("button", { name: new RegExp(`^Start visit note: ${maria}`) });
  result.startLabel = await start.textContent();
  await start.focus();
  await start.press("Enter");
  await visit.locator("#panel-note .appointment-link:not([hidden])").waitFor({ timeout: 60000 });
  result.noteFor = await visit.locator("#panel-note .appointment-link").textContent();
  result.noteTab = await visit.getAttribute("#tab-note", "aria-selected");
  result.noteVisitType = await visit.getByLabel("Visit type").inputValue();
  await visit.getByLabel("Subjective").fill(input.note);
  await visit.getByRole("button", { name: "Sign note" }).click();
  await visit.waitForFunction(() => !document.querySelector("#panel-note textarea[name=subjective]")?.value
    || document.querySelector("#panel-note .form-error")?.textContent, null, { timeout: 60000 });
  result.visitSignError = await visit.textContent("#panel-note .form-error").catch(() => null);
  await visit.getByRole("tab", { name: "Visits" }).click();
  const linked = visit.locator("#panel-visits article.visit", { hasText: input.note });
  await linked.waitFor({ timeout: 30000 });
  result.visitLink = await linked.locator(".appointment-link").textContent();
  result.visitLinkId = await linked.locator(".appointment-link").getAttribute("data-appointment");
  if (input.screenshots.visit) await visit.screenshot({ path: input.screenshots.visit, fullPage: true });
  await visitContext.close();
});
