// The clinic benchmark's browser half: the doctor logs in `runs` times (a fresh context each
// time) and the page is timed from the form's submit to the patient list on screen, then from
// opening the large chart (search, Enter) to its rows on screen, then from sending a reply to
// the relay's OK (the same sign-and-publish path every write takes). Phases come from app.js's
// performance marks. Input: {"clinic", "chromium", "nsec", "search", "runs"}; one JSON line per run.
import { chromium } from "playwright-core";

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const input = JSON.parse(Buffer.concat(chunks).toString("utf8"));

const browser = await chromium.launch({ executablePath: input.chromium, args: ["--no-sandbox"] });
try {
  for (let run = 0; run < input.runs; run += 1) {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    await page.goto(input.clinic);
    await page.getByLabel("Your secret key").waitFor({ state: "visible" });
    await page.getByLabel("Your secret key").fill(input.nsec);
    const submitted = await page.evaluate(() => {
      const t = performance.now();
      document.getElementById("login").requestSubmit();
      return t;
    });
    await page.waitForSelector("#workspace:not([hidden]), #error:not(:empty)");
    const listed = await page.evaluate(() => performance.now());
    // The first rows are on screen; the rest are drawn between frames.
    await page.waitForSelector('#patient-rows[data-complete="true"]');
    const allRows = await page.evaluate(() => performance.now());
    const patients = await page.locator("#patient-rows tr").count();
    await page.getByLabel("Find a patient").fill(input.search);
    const opening = await page.evaluate(() => {
      const t = performance.now();
      document.getElementById("patient-search").dispatchEvent(new KeyboardEvent("keydown", { key: "Enter", bubbles: true }));
      return t;
    });
    await page.waitForSelector("#chart:not([hidden]) #panel-summary dl, #error:not(:empty)");
    const opened = await page.evaluate(() => performance.now());
    const records = await page.locator("#chart-rows tr").count();
    const mark = (name) => page.evaluate((n) => performance.getEntriesByName(n).at(-1)?.startTime ?? null, name);
    // A reply to her newest message: sign in WebAssembly, publish, the relay's OK.
    await page.getByRole("tab", { name: "Messages" }).click();
    const reply = page.locator("#panel-messages form").first();
    await reply.getByLabel("Reply").fill(`Benchmark reply ${run} (synthetic)`);
    const sending = await page.evaluate(() => performance.now());
    await reply.getByRole("button", { name: "Send reply" }).click();
    await page.waitForFunction(() => performance.getEntriesByName("clinic:saved").length > 0);
    const saved = await mark("clinic:saved");
    console.log(JSON.stringify({
      run,
      error: await page.textContent("#error"),
      patients,
      records,
      list: (await mark("clinic:list-painted")) - submitted,
      listSeenByHarness: listed - submitted,
      allRows: allRows - submitted,
      chart: opened - opening,
      keysFetched: (await mark("clinic:fetched")) - submitted,
      sessionLoaded: (await mark("clinic:session")) - submitted,
      listOpened: (await mark("clinic:listed")) - submitted,
      save: saved - sending,
    }));
    await context.close();
  }
} finally {
  await browser.close();
}
