// Drives the patient portal in headless Chromium (Debian's, through playwright-core) as a
// patient would: the login form by keyboard, the chart table, logging out. Input on stdin:
// {"portal", "chromium", "connection", "logins": [{"name", "nsec", "screenshot"?}]}.
// Prints one JSON line per login with what the page showed and every request it made.
import { chromium } from "playwright-core";

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const input = JSON.parse(Buffer.concat(chunks).toString("utf8"));

// Chromium's sandbox needs user namespaces, which CI containers running as root lack.
const browser = await chromium.launch({ executablePath: input.chromium, args: ["--no-sandbox"] });
try {
  for (const login of input.logins) {
    // A phone-sized window: the portal must work 375 px wide.
    const context = await browser.newContext({ viewport: { width: 375, height: 800 } });
    const page = await context.newPage();
    const requests = [];
    const websockets = [];
    const errors = [];
    page.on("request", (request) => requests.push(request.url()));
    page.on("websocket", (socket) => websockets.push(socket.url()));
    page.on("console", (message) => { if (message.type() === "error") errors.push(message.text()); });
    page.on("pageerror", (error) => errors.push(String(error)));
    // Injected by the test harness (not subject to the page's CSP): collects violations.
    await page.addInitScript(() => {
      window.__violations = [];
      document.addEventListener("securitypolicyviolation", (e) =>
        window.__violations.push(`${e.violatedDirective} ${e.blockedURI}`));
    });

    await page.goto(input.portal);
    // The form appears once the WebAssembly is running.
    await page.getByLabel("Practice connection string").waitFor({ state: "visible" });
    const offered = await page.getByLabel("Practice connection string").inputValue();
    await page.getByLabel("Practice connection string").fill(input.connection);
    await page.getByLabel("Your secret key (nsec)").fill(login.nsec);
    await page.getByLabel("Your secret key (nsec)").press("Enter");
    await page.waitForSelector("#chart:not([hidden]), #error:not(:empty)");

    const rows = await page.$$eval("#chart-rows tr", (trs) =>
      trs.map((tr) => [...tr.cells].map((cell) => cell.textContent)));
    const result = {
      name: login.name,
      offered,
      rows,
      caption: await page.textContent("#chart-caption"),
      status: await page.textContent("#status"),
      error: await page.textContent("#error"),
      secretLeftInForm: await page.getByLabel("Your secret key (nsec)").inputValue(),
      focused: await page.evaluate(() => document.activeElement?.id ?? null),
    };
    if (login.screenshot) {
      await page.screenshot({ path: login.screenshot, fullPage: true });
    }
    if (rows.length > 0) {
      await page.getByRole("button", { name: "Log out" }).click();
      result.rowsAfterLogout = await page.locator("#chart-rows tr").count();
      result.chartVisibleAfterLogout = await page.isVisible("#chart");
    }
    result.violations = await page.evaluate(() => window.__violations);
    result.requests = requests;
    result.websockets = websockets;
    result.errors = errors;
    console.log(JSON.stringify(result));
    await context.close();
  }
} finally {
  await browser.close();
}
