// The clinic app's inactivity lock in headless Chromium: the doctor opens a chart in a clinic
// app that locks after a few seconds, does nothing, and the page is locked: the chart, the
// patient list and the key are gone, the login is back. Input on stdin: {"clinic", "chromium",
// "nsec", "search", "name"}. Prints one JSON line.
import { formMessages, launch, login, openPatient, readInput, watchedPage } from "./clinic-page.mjs";

const input = await readInput();
const browser = await launch(input);
const watched = await watchedPage(browser, 1280);
const { page, log, violations } = watched;
const result = {};
try {
  await login(page, input.clinic, input.nsec);
  await openPatient(page, input.search);
  result.before = await page.evaluate(() => document.body.innerText);
  await page.waitForSelector('html[data-session="locked"]', { timeout: 60000 });
  result.after = await page.evaluate(() => ({
    html: document.documentElement.outerHTML,
    text: document.body.innerText,
    patientRows: document.querySelectorAll("#patient-rows tr").length,
    workspaceHidden: document.getElementById("workspace").hidden,
    loginVisible: !document.getElementById("login").hidden,
    sessionStorage: sessionStorage.length,
  }));
} catch (error) {
  result.failure = String(error);
  result.formMessages = await formMessages(page);
} finally {
  result.violations = await violations();
  Object.assign(result, log);
  await browser.close();
}
console.log(JSON.stringify(result));
