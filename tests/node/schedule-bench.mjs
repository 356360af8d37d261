// The schedule benchmark's browser half: the doctor logs in `runs` times (a fresh context each
// time); once the patient list is drawn, the page is timed from the click on "Schedule" to the
// day's appointments drawn (their table, or "No appointment that day."), then from the click on
// "Week" to the week's table drawn with its rows. In-page clock: performance.now() at the
// click, and in the MutationObserver callback that first sees the result; "painted" is the
// frame after it. Input: {"clinic", "chromium", "nsec", "runs"}; one JSON line per run.
import { chromium } from "playwright-core";

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const input = JSON.parse(Buffer.concat(chunks).toString("utf8"));

// In the page (no eval: the app's CSP forbids it): click "Schedule" (`mode` "day") or "Week"
// (`mode` "week"), then wait until that view is drawn; returns {drawn, painted} in ms from the
// click (painted: two frames later), {count} of appointments shown, or {error} after `timeout`.
const timeClick = (page, mode, timeout = 120000) => page.evaluate(({ mode, timeout }) =>
  new Promise((resolve) => {
    const dayHeading = () => [...document.querySelectorAll("#schedule h3")]
      .find((h) => h.textContent.startsWith("Appointments on"));
    const done = mode === "day"
      // The day's heading and what follows it: its table, or "No appointment that day."
      ? () => Boolean(dayHeading()?.nextElementSibling)
      : () => document.querySelector("#schedule table.schedule-week tbody tr") !== null;
    const count = mode === "day"
      ? () => {
        const next = dayHeading()?.nextElementSibling;
        return next?.matches("table.schedule-table") ? next.querySelectorAll("tbody tr").length : 0;
      }
      : () => document.querySelectorAll("#schedule table.schedule-week li").length;
    const error = () => document.querySelector("#schedule .form-error")?.textContent
      || document.querySelector("#error")?.textContent || "";
    let t0 = 0;
    let timer = null;
    const observer = new MutationObserver(() => {
      if (!done() && !error()) return;
      const drawn = performance.now() - t0;
      observer.disconnect();
      clearTimeout(timer);
      const shown = count();
      requestAnimationFrame(() => requestAnimationFrame(() =>
        resolve({ drawn, painted: performance.now() - t0, count: shown, error: error() })));
    });
    timer = setTimeout(() => { observer.disconnect(); resolve({ error: `timed out: ${error()}` }); }, timeout);
    observer.observe(document.body, { childList: true, subtree: true, characterData: true });
    t0 = performance.now();
    if (mode === "day") document.getElementById("show-schedule").click();
    else [...document.querySelectorAll("#schedule .schedule-views button")].find((b) => b.textContent === "Week").click();
  }), { mode, timeout });

const browser = await chromium.launch({ executablePath: input.chromium, args: ["--no-sandbox"] });
try {
  for (let run = 0; run < input.runs; run += 1) {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    const errors = [];
    page.on("pageerror", (e) => errors.push(String(e)));
    await page.goto(input.clinic);
    await page.getByLabel("Your secret key").waitFor({ state: "visible" });
    await page.getByLabel("Your secret key").fill(input.nsec);
    await page.evaluate(() => document.getElementById("login").requestSubmit());
    await page.waitForSelector("#workspace:not([hidden]), #error:not(:empty)", { timeout: 120000 });
    await page.waitForSelector('#patient-rows[data-complete="true"], #error:not(:empty)', { timeout: 120000 });
    const patients = await page.locator("#patient-rows tr").count();

    const day = await timeClick(page, "day");
    const week = await timeClick(page, "week");
    const weekText = await page.locator("#schedule table.schedule-week caption").textContent().catch(() => null);
    console.log(JSON.stringify({
      run,
      error: [await page.textContent("#error"), day.error, week.error, ...errors].filter(Boolean).join("; "),
      patients,
      day: day.drawn,
      dayPainted: day.painted,
      dayAppointments: day.count,
      week: week.drawn,
      weekPainted: week.painted,
      weekAppointments: week.count,
      weekOf: weekText,
    }));
    await context.close();
  }
} finally {
  await browser.close();
}
