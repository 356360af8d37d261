// Drives "Share with a new practice" in headless Chromium (Debian's, through playwright-core):
// the patient logs in to her practice's portal, pastes the new practice's connection string
// and shares. Input on stdin: {"portal", "chromium", "connection", "shares": [{"name", "nsec",
// "target"}]}. Prints one JSON line per share with what the page said.
import { chromium } from "playwright-core";

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const input = JSON.parse(Buffer.concat(chunks).toString("utf8"));

const browser = await chromium.launch({ executablePath: input.chromium, args: ["--no-sandbox"] });
try {
  for (const share of input.shares) {
    const context = await browser.newContext({ viewport: { width: 375, height: 800 } });
    const page = await context.newPage();
    const errors = [];
    const websockets = [];
    page.on("console", (message) => { if (message.type() === "error") errors.push(message.text()); });
    page.on("pageerror", (error) => errors.push(String(error)));
    page.on("websocket", (socket) => websockets.push(socket.url()));
    await page.addInitScript(() => {
      window.__violations = [];
      document.addEventListener("securitypolicyviolation", (e) =>
        window.__violations.push(`${e.violatedDirective} ${e.blockedURI}`));
    });
    await page.goto(input.portal);
    await page.getByLabel("Practice connection string").fill(input.connection);
    await page.getByLabel("Your secret key (nsec)").fill(share.nsec);
    await page.getByLabel("Your secret key (nsec)").press("Enter");
    await page.waitForSelector("#chart:not([hidden]), #error:not(:empty)");

    await page.click("#tab-share");
    await page.getByLabel("The new practice's connection string").fill(share.target);
    await page.getByRole("button", { name: "Share my records" }).click();
    await page.waitForFunction(() =>
      document.getElementById("share-status").textContent.startsWith("Shared") ||
      document.getElementById("share-error").textContent !== "");
    if (share.screenshot) await page.screenshot({ path: share.screenshot, fullPage: true });
    console.log(JSON.stringify({
      name: share.name,
      loginError: await page.textContent("#error"),
      status: await page.textContent("#share-status"),
      error: await page.textContent("#share-error"),
      violations: await page.evaluate(() => window.__violations),
      websockets,
      errors,
    }));
    await context.close();
  }
} finally {
  await browser.close();
}
