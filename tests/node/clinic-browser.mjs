// Drives the clinic app in headless Chromium (Debian's, through playwright-core) as staff
// would: log in with a key by keyboard, find a patient, open the chart, read the tabs the role
// may see, answer the newest message, log out. Input on stdin: {"clinic", "chromium",
// "logins": [{"name", "nsec", "width", "search", "reply"?, "screenshots"?: {"list", "chart"}}]}.
// Prints one JSON line per login with what the page showed and every request it made.
import { formMessages, launch, readInput, watchedPage } from "./clinic-page.mjs";

const input = await readInput();
const browser = await launch(input);

async function run(login) {
  const { context, page, log, violations } = await watchedPage(browser, login.width);
  const result = { name: login.name };
  try {
    await page.goto(input.clinic);
    await page.getByLabel("Your secret key").waitFor({ state: "visible" });
    result.offered = await page.getByLabel("Practice connection string").inputValue();
    await page.getByLabel("Your secret key").fill(login.nsec);
    await page.getByLabel("Your secret key").press("Enter");
    await page.waitForSelector("#workspace:not([hidden]), #error:not(:empty)");
    result.error = await page.textContent("#error");
    result.secretLeftInForm = await page.getByLabel("Your secret key").inputValue();
    if (result.error) return result;
    result.member = await page.textContent("#member");
    result.status = await page.textContent("#status");
    result.focused = await page.evaluate(() => document.activeElement?.id ?? null);
    result.patients = await page.$$eval("#patient-rows tr", (trs) =>
      trs.map((tr) => [...tr.cells].map((cell) => cell.textContent)));
    if (login.screenshots?.list) await page.screenshot({ path: login.screenshots.list, fullPage: true });
    // Search by keyboard, Enter opens the first match.
    await page.getByLabel("Find a patient").fill(login.search);
    result.matches = await page.locator("#patient-rows tr").count();
    await page.getByLabel("Find a patient").press("Enter");
    await page.waitForSelector("#chart:not([hidden]), #error:not(:empty)");
    result.chartError = await page.textContent("#error");
    result.heading = await page.textContent("#chart-heading");
    result.tabs = await page.$$eval("#chart-tabs [role=tab]", (tabs) => tabs.map((t) => t.textContent));
    result.rows = await page.$$eval("#chart-rows tr", (trs) =>
      trs.map((tr) => [...tr.cells].map((cell) => cell.textContent)));
    if (login.screenshots?.chart) await page.screenshot({ path: login.screenshots.chart, fullPage: true });
    if (login.phone) {
      await page.getByRole("tab", { name: "Details" }).click();
      await page.getByText("Edit details").click();
      await page.getByLabel("Phone").fill(login.phone);
      await page.getByRole("button", { name: "Save details" }).click();
      await page.waitForFunction((phone) => document.querySelector("#panel-details dl")?.textContent.includes(phone),
        login.phone, { timeout: 20000 });
      result.phoneSaved = true;
    }
    if (login.reply) {
      await page.getByRole("tab", { name: "Messages" }).click();
      const reply = page.locator("#panel-messages form").first();
      await reply.getByLabel("Reply").fill(login.reply);
      await reply.getByRole("button", { name: "Send reply" }).click();
      // The chart reloads after the reply: wait until the new message is on the page.
      await page.waitForFunction((text) => document.body.textContent.includes(text), login.reply,
        { timeout: 20000 });
      result.replied = true;
    }
    await page.getByRole("button", { name: "Log out" }).click();
    result.patientsAfterLogout = await page.locator("#patient-rows tr").count();
    result.chartRowsAfterLogout = await page.locator("#chart-rows tr").count();
    result.workspaceVisibleAfterLogout = await page.isVisible("#workspace");
  } catch (error) {
    result.failure = String(error);
    result.pageError = await page.textContent("#error").catch(() => null);
    result.formMessages = await formMessages(page);
  } finally {
    result.violations = await violations();
    Object.assign(result, log);
    await context.close();
  }
  return result;
}

try {
  for (const login of input.logins) console.log(JSON.stringify(await run(login)));
} finally {
  await browser.close();
}
