// Drives the portal's record forms in headless Chromium (Debian's, through playwright-core) as
// a patient would, one phase per run (the Rust test acts as the practice in between).
// Input on stdin: {"portal", "chromium", "connection", "nsec", "phase", "screenshot"?, ...}.
//   phase "write":   add a supplement, reply in her thread, start a new thread, give consent
//                    to the facility `facility`.
//   phase "read":    read the threads (the doctor's answer must be there), withdraw consent.
// Prints one JSON line with what the page showed, every request and socket, CSP violations.
import { chromium } from "playwright-core";

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const input = JSON.parse(Buffer.concat(chunks).toString("utf8"));

// Chromium's sandbox needs user namespaces, which CI containers running as root lack.
const browser = await chromium.launch({ executablePath: input.chromium, args: ["--no-sandbox"] });
const result = { phase: input.phase, steps: [] };
try {
  const context = await browser.newContext({ viewport: { width: 375, height: 800 } });
  const page = await context.newPage();
  const requests = [];
  const websockets = [];
  const errors = [];
  page.on("request", (request) => requests.push(request.url()));
  page.on("websocket", (socket) => websockets.push(socket.url()));
  page.on("console", (message) => { if (message.type() === "error") errors.push(message.text()); });
  page.on("pageerror", (error) => errors.push(String(error)));
  await page.addInitScript(() => {
    window.__violations = [];
    document.addEventListener("securitypolicyviolation", (e) =>
      window.__violations.push(`${e.violatedDirective} ${e.blockedURI}`));
  });

  await page.goto(input.portal);
  await page.getByLabel("Practice connection string").waitFor({ state: "visible" });
  await page.getByLabel("Practice connection string").fill(input.connection);
  await page.getByLabel("Your secret key (nsec)").fill(input.nsec);
  await page.getByLabel("Your secret key (nsec)").press("Enter");
  await page.waitForSelector("#chart:not([hidden]), #error:not(:empty)");
  result.loginError = await page.textContent("#error");

  const threads = async () => page.$$eval("#panel-messages .thread-card", (cards) => cards.map((card) => ({
    topic: card.querySelector("h3").textContent,
    messages: [...card.querySelectorAll(".message")].map((m) => ({
      from: m.querySelector(".message-from").textContent,
      text: m.querySelector(".message-text").textContent,
      mine: m.classList.contains("mine"),
    })),
  })));
  // With the chart's tab framework a record tab must be selected (its panel is mounted on
  // first show); without it the panels are sections after the chart.
  const openTab = async (panel) => {
    const tab = page.locator(`#${panel.slice(1).split(" ")[0].replace("panel-", "tab-")}[role="tab"]`);
    if (await tab.count()) await tab.click();
    await page.waitForSelector(`${panel.split(" ")[0]} h2`);
  };
  // Submit a form and wait for the write and the reloaded chart (or the form's error).
  const submit = async (panel, button) => {
    const before = await page.evaluate(() => Number(document.documentElement.dataset.recordsWritten ?? 0));
    await openTab(panel);
    await page.locator(panel).getByRole("button", { name: button }).click();
    await page.waitForFunction(({ before }) =>
      Number(document.documentElement.dataset.recordsWritten ?? 0) > before
        || document.querySelector(".form-error:not(:empty)"),
    { before }, { timeout: 30000 });
    await openTab(panel.split(" ")[0]);
    const error = await page.$$eval(".form-error", (ps) => ps.map((p) => p.textContent).filter(Boolean));
    result.steps.push({ panel, button, error });
  };

  if (input.phase === "write") {
    // An empty name is refused in the core, with a clear message, and nothing is sent.
    await openTab("#panel-messages");
    result.threadsBefore = await threads();
    await openTab("#panel-reported");
    await page.locator("#panel-reported").getByLabel("Name (for example a supplement)").fill(input.supplement);
    await page.locator("#panel-reported").getByLabel("How you take it (optional)").fill(input.dose);
    await submit("#panel-reported", "Add to my record", input.supplement);
    result.chartRows = await page.$$eval("#chart-rows tr", (trs) =>
      trs.map((tr) => [...tr.cells].map((cell) => cell.textContent)));
    result.reported = await page.$$eval("#panel-reported li", (lis) => lis.map((li) => li.textContent));

    // Reply in the thread she has, then start a new one.
    await openTab("#panel-messages");
    const card = page.locator("#panel-messages .thread-card", { hasText: input.thread });
    await card.getByLabel("Reply").fill(input.reply);
    await submit(`#panel-messages .thread-card[data-thread="${await card.getAttribute("data-thread")}"]`, "Send reply", input.reply);
    await openTab("#panel-messages");
    await page.locator("#panel-messages").getByLabel("Subject").fill(input.subject);
    await page.locator("#panel-messages").getByLabel("Message", { exact: true }).fill(input.message);
    await submit("#panel-messages", "Send message", input.message);
    await openTab("#panel-messages");
    result.threadsAfter = await threads();

    await openTab("#panel-consent");
    await page.locator("#panel-consent").getByLabel("Facility ID (as your practice gave it)").fill(input.facility);
    await submit("#panel-consent", "Share my chart", "You share your chart");
    result.sharing = await page.textContent("#panel-consent .sharing-state");
  } else {
    await openTab("#panel-messages");
    result.threads = await threads();
    if (input.screenshot) {
      await page.locator("#panel-messages").screenshot({ path: input.screenshot });
    }
    await openTab("#panel-consent");
    result.sharingBefore = await page.textContent("#panel-consent .sharing-state");
    if (input.withdraw) {
      await submit("#panel-consent", "Stop sharing", "You do not share");
      await openTab("#panel-consent");
      result.sharing = await page.textContent("#panel-consent .sharing-state");
    }
    if (input.bundleFile) {
      await openTab("#panel-take");
      const take = page.locator("#panel-take");
      for (const [name, path] of [
        ["Download my chart (FHIR R4 Bundle)", input.bundleFile],
        ["Download my raw events (JSONL)", input.eventsFile],
      ]) {
        const [download] = await Promise.all([
          page.waitForEvent("download"),
          take.getByRole("button", { name }).click(),
        ]);
        await download.saveAs(path);
        result.steps.push({ panel: "#panel-take", button: name, error: [], file: download.suggestedFilename() });
      }
      // A bad address is refused before anything is sent.
      await take.getByLabel("Your relay (wss://…)").fill("https://example.org");
      await take.getByRole("button", { name: "Copy my events there" }).click();
      await page.waitForSelector("#panel-take .form-error:not(:empty)");
      result.badMirror = await page.textContent("#panel-take .form-error:not(:empty)");
      await take.getByLabel("Your relay (wss://…)").fill(input.mirror);
      await take.getByRole("button", { name: "Copy my events there" }).click();
      await page.waitForFunction(() => /accepted/.test(document.querySelector("#panel-take .mirror-status")?.textContent ?? "")
        || document.querySelector("#panel-take form .form-error:not(:empty)"), null, { timeout: 30000 });
      result.mirrorStatus = await page.textContent("#panel-take .mirror-status");
      result.mirrorError = await page.textContent("#panel-take form .form-error");
    }
  }
  result.violations = await page.evaluate(() => window.__violations);
  result.requests = requests;
  result.websockets = websockets;
  result.errors = errors;
  await context.close();
} catch (error) {
  result.failure = String(error?.stack ?? error);
} finally {
  await browser.close();
}
console.log(JSON.stringify(result));
