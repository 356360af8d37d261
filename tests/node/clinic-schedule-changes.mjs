// A reschedule, a cancellation and a no-show, each folded in the portal and the clinic app
// (headless Chromium). Three patients are booked for the day. Ana asks in the portal (375 px)
// to move hers to 14:00; Ben cancels his; the front desk (1280 px) sees Ana's request among the
// requests waiting and confirms it, sees Ben's cancelled (its time freed by the first staff
// screen that saw it) and marks Cleo a no-show. Cleo's guardian asks, from her chart in the
// guardian's portal, for 8:00 for her; the desk confirms it. Each patient then reads hers in the portal.
// Input on stdin: {"clinic", "portal", "chromium", "connection", "day", "frontdesk",
// "patients": [{"nsec", "name"}] (Ana, Ben, Cleo), "guardian": {"nsec", "ward"}, "screenshots":
// {"clinic", "portal", "guardian"}}.
// Prints one JSON line.
import { launch, login, readInput, runAndReport, watchedPage } from "./clinic-page.mjs";

const input = await readInput();
input.day = new Date(input.day * 1000).toISOString().slice(0, 10);
const browser = await launch(input);
const watched = await watchedPage(browser, 1280, 1000);
const { page } = watched;
const [ana, ben, cleo] = input.patients;
const exact = (name) => name.replace(/[()]/g, ".");

// A patient in the portal at 375 px, on her Appointments tab: [context, page, panel].
async function portal(patient, errors) {
  const context = await browser.newContext({ viewport: { width: 375, height: 800 } });
  const phone = await context.newPage();
  phone.on("console", (m) => { if (m.type() === "error") errors.push(m.text()); });
  phone.on("pageerror", (e) => errors.push(String(e)));
  phone.on("dialog", (dialog) => dialog.accept());
  await phone.goto(input.portal);
  await phone.getByLabel("Practice connection string").fill(input.connection);
  await phone.getByLabel("Your secret key (nsec)").fill(patient.nsec);
  await phone.getByLabel("Your secret key (nsec)").press("Enter");
  await phone.waitForSelector("#chart:not([hidden]), #error:not(:empty)");
  await phone.getByRole("tab", { name: "Appointments" }).click();
  const panel = phone.locator("#panel-appointments");
  await panel.locator("ul.appointments, p.empty").first().waitFor();
  return [context, phone, panel];
}

const upcoming = (panel) => panel.locator("ul.appointments").first().innerText().catch(() => "");

await runAndReport(browser, watched, async (result) => {
  result.phoneErrors = [];
  // Ana asks to move hers to 14:00 the same day.
  let [context, phone, panel] = await portal(ana, result.phoneErrors);
  await panel.getByRole("button", { name: /^Ask to move/ }).click();
  await panel.getByLabel("Move to which day?").fill(input.day);
  await panel.getByLabel("Move to which day?").dispatchEvent("change");
  const two = panel.getByRole("button", { name: /^Move to 2:00\s?PM|^Move to 14:00/ });
  await two.waitFor({ timeout: 30000 });
  await two.click();
  await phone.waitForFunction(() => /asked to move|Not asked/.test(document.querySelector("#panel-appointments")?.textContent ?? ""), null, { timeout: 60000 });
  result.anaAsked = await upcoming(phone.locator("#panel-appointments"));
  // Her portal stays open: the desk's answer shows there without a reload.
  const anaContext = context;
  const anaPhone = phone;
  // Ben cancels his.
  [context, phone, panel] = await portal(ben, result.phoneErrors);
  await panel.getByRole("button", { name: /^Cancel the appointment/ }).click();
  await phone.waitForFunction(() => /Cancelled|Not cancelled/.test(document.querySelector("#panel-appointments")?.textContent ?? ""), null, { timeout: 60000 });
  result.benCancelled = await phone.locator("#panel-appointments").innerText();
  await context.close();
  // Cleo's guardian, in her own portal, switches to Cleo's chart and asks for 8:00 for her.
  [context, phone, panel] = await portal(input.guardian, result.phoneErrors);
  await phone.waitForSelector("#chart-switch[data-checked]", { state: "attached" });
  await phone.locator(`#chart-owner option[value="${input.guardian.ward}"]`).waitFor({ state: "attached" });
  await phone.getByLabel("Whose chart").selectOption(input.guardian.ward);
  await phone.waitForFunction(() => /: chart$/.test(document.getElementById("chart-heading").textContent)
    || document.getElementById("error")?.textContent);
  result.wardSwitchError = await phone.textContent("#error");
  await phone.getByRole("tab", { name: "Appointments" }).click();
  panel = phone.locator("#panel-appointments");
  await panel.getByLabel("Kind of visit").selectOption("sick");
  await panel.getByLabel("Day", { exact: true }).fill(input.day);
  await panel.getByLabel("Day", { exact: true }).dispatchEvent("change");
  const eight = panel.getByRole("button", { name: /^8:00\s?AM with/ });
  await eight.waitFor({ timeout: 30000 });
  await eight.click();
  await phone.waitForFunction(() => /Requested:|Not requested/.test(document.querySelector("#panel-appointments")?.textContent ?? ""), null, { timeout: 60000 });
  result.guardianAsked = await phone.locator("#panel-appointments").innerText();
  await phone.screenshot({ path: input.screenshots.guardian, fullPage: true });
  await context.close();

  // The front desk: Ana's request waits, with the time she asks for; confirmed, she is moved.
  await login(page, input.clinic, input.frontdesk);
  await page.getByRole("button", { name: "Schedule" }).click();
  await page.getByLabel("Day").fill(input.day);
  await page.getByLabel("Day").dispatchEvent("change");
  await page.locator("#schedule table").first().waitFor();
  result.requestRows = await page.locator("#schedule table").first().innerText();
  await page.getByRole("button", { name: new RegExp(`^Confirm: ${exact(ana.name)}`) }).click();
  await page.waitForFunction(() => /is booked|Not done/.test(document.querySelector("#schedule")?.textContent ?? ""), null, { timeout: 60000 });
  result.confirmed = await page.locator("#schedule .form-status, #schedule .form-error").allTextContents();
  await anaPhone.waitForFunction(() => {
    const text = document.querySelector("#panel-appointments ul.appointments")?.textContent ?? "";
    return text.includes("2:00") && text.includes("Booked") && !text.includes("asked to move");
  }, null, { timeout: 30000 }).then(() => { result.anaLive = true; }, () => { result.anaLive = false; });
  await anaContext.close();
  await page.getByRole("button", { name: new RegExp(`^Confirm: ${exact(cleo.name)}`) }).click();
  await page.locator("#schedule p[role=status]", { hasText: new RegExp(`${exact(cleo.name)}.* is booked`) })
    .or(page.locator("#schedule p[role=alert]", { hasText: "Not done" })).first().waitFor({ timeout: 60000 });
  result.wardConfirmed = await page.locator("#schedule .form-status, #schedule .form-error").allTextContents();
  await page.getByRole("button", { name: new RegExp(`^No-show: ${exact(cleo.name)}.* at 10:00`) }).click();
  await page.waitForFunction(() => /No-show: done|Not done/.test(document.querySelector("#schedule")?.textContent ?? ""), null, { timeout: 60000 });
  result.noshow = await page.locator("#schedule .form-status, #schedule .form-error").allTextContents();
  result.day = await page.$$eval("#schedule table tbody tr", (rows) => rows.map((r) => r.innerText));
  await page.screenshot({ path: input.screenshots.clinic, fullPage: true });

  // Each reads hers in the portal.
  [context, phone, panel] = await portal(ana, result.phoneErrors);
  result.anaAfter = await upcoming(panel);
  await phone.screenshot({ path: input.screenshots.portal, fullPage: true });
  await context.close();
  [context, phone, panel] = await portal(ben, result.phoneErrors);
  result.benAfter = await panel.innerText();
  await context.close();
  [context, phone, panel] = await portal(cleo, result.phoneErrors);
  result.cleoAfter = await panel.innerText();
  await context.close();
});
