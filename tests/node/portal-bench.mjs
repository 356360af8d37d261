// The portal benchmark's browser half: log in with the nsec `runs` times (a fresh context each
// time, so nothing is cached but what a returning browser would revalidate) and time from the
// form's submit to the rendered chart. Phases come from app.js's performance marks.
// Input: {"portal", "chromium", "connection", "nsec", "runs"}; one JSON line per run.
import { chromium } from "playwright-core";

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const input = JSON.parse(Buffer.concat(chunks).toString("utf8"));

const browser = await chromium.launch({ executablePath: input.chromium, args: ["--no-sandbox"] });
try {
  for (let run = 0; run < input.runs; run += 1) {
    const context = await browser.newContext({ viewport: { width: 375, height: 800 } });
    const page = await context.newPage();
    await page.goto(input.portal);
    await page.getByLabel("Practice connection string").waitFor({ state: "visible" });
    await page.getByLabel("Practice connection string").fill(input.connection);
    await page.getByLabel("Your secret key (nsec)").fill(input.nsec);
    const submitted = await page.evaluate(() => {
      const t = performance.now();
      document.getElementById("login").requestSubmit();
      return t;
    });
    await page.waitForSelector("#chart:not([hidden]) #panel-summary dl, #error:not(:empty)");
    const done = await page.evaluate(() => performance.now());
    // app.js marks the end of the relay phase and of the WebAssembly phase.
    const mark = (name) => page.evaluate((n) => performance.getEntriesByName(n).at(-1)?.startTime ?? null, name);
    const verifying = await mark("ehr:fetched");
    const verified = await mark("ehr:opened");
    console.log(JSON.stringify({
      run,
      error: await page.textContent("#error"),
      records: await page.locator("#chart-rows tr").count(),
      status: await page.textContent("#status"),
      total: done - submitted,
      fetch: verifying - submitted,
      open: verified - verifying,
      render: done - verified,
    }));
    await context.close();
  }
} finally {
  await browser.close();
}
