// The clinic app's inactivity lock in headless Chromium: the doctor opens a chart in a clinic
// app that locks after a few seconds, does nothing, and the page is locked: the chart, the
// patient list and the key are gone, the login is back. Input on stdin: {"clinic", "chromium",
// "nsec", "search", "name"}. Prints one JSON line.
import { launch, login, openPatient, readInput, runAndReport, watchedPage } from "./clinic-page.mjs";

const input = await readInput();
const browser = await launch(input);
const watched = await watchedPage(browser, 1280);
const { page } = watched;
await runAndReport(browser, watched, async (result) => {
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
});
