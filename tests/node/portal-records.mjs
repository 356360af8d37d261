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
  await page.waitForSelector("#records, #error:not(:empty)");
  result.loginError = await page.textContent("#error");

  const threads = async () => page.$$eval("#tab-messages .thread-card", (cards) => cards.map((card) => ({
    topic: card.querySelector("h3").textContent,
    messages: [...card.querySelectorAll(".message")].map((m) => ({
      from: m.querySelector(".message-from").textContent,
      text: m.querySelector(".message-text").textContent,
      mine: m.classList.contains("mine"),
    })),
  })));
  // Submit a form by keyboard-reachable controls and wait for the reloaded panels.
  const submit = async (panel, button, expect) => {
    const before = await page.$("#records");
    await page.locator(panel).getByRole("button", { name: button }).click();
    await page.waitForFunction(({ old, panel, expect }) => {
      const error = document.querySelector(`${panel} .form-error:not(:empty)`);
      if (error) return true;
      const records = document.getElementById("records");
      return records && records !== old && (!expect || records.textContent.includes(expect));
    }, { old: before, panel, expect }, { timeout: 30000 }).catch(() => {});
    const error = await page.$$eval(`.form-error`, (ps) => ps.map((p) => p.textContent).filter(Boolean));
    result.steps.push({ panel, button, error });
  };

  if (input.phase === "write") {
    // An empty name is refused in the core, with a clear message, and nothing is sent.
    result.threadsBefore = await threads();
    await page.locator("#tab-reported").getByLabel("Name (for example a supplement)").fill(input.supplement);
    await page.locator("#tab-reported").getByLabel("How you take it (optional)").fill(input.dose);
    await submit("#tab-reported", "Add to my record", input.supplement);
    result.chartRows = await page.$$eval("#chart-rows tr", (trs) =>
      trs.map((tr) => [...tr.cells].map((cell) => cell.textContent)));
    result.reported = await page.$$eval("#tab-reported li", (lis) => lis.map((li) => li.textContent));

    // Reply in the thread she has, then start a new one.
    const card = page.locator("#tab-messages .thread-card", { hasText: input.thread });
    await card.getByLabel("Reply").fill(input.reply);
    await submit(`#tab-messages .thread-card[data-thread="${await card.getAttribute("data-thread")}"]`, "Send reply", input.reply);
    await page.locator("#tab-messages").getByLabel("Subject").fill(input.subject);
    await page.locator("#tab-messages").getByLabel("Message", { exact: true }).fill(input.message);
    await submit("#tab-messages", "Send message", input.message);
    result.threadsAfter = await threads();

    await page.locator("#tab-consent").getByLabel("Facility ID (as your practice gave it)").fill(input.facility);
    await submit("#tab-consent", "Share my chart", "You share your chart");
    result.sharing = await page.textContent("#tab-consent .sharing-state");
  } else {
    result.threads = await threads();
    result.sharingBefore = await page.textContent("#tab-consent .sharing-state");
    if (input.screenshot) {
      await page.locator("#tab-messages").screenshot({ path: input.screenshot });
    }
    if (input.withdraw) {
      await submit("#tab-consent", "Stop sharing", "You do not share");
      result.sharing = await page.textContent("#tab-consent .sharing-state");
    }
    if (input.bundleFile) {
      const take = page.locator("#tab-take");
      for (const [name, path] of [
        ["Download my chart (FHIR R4 Bundle)", input.bundleFile],
        ["Download my raw events (JSONL)", input.eventsFile],
      ]) {
        const [download] = await Promise.all([
          page.waitForEvent("download"),
          take.getByRole("button", { name }).click(),
        ]);
        await download.saveAs(path);
        result.steps.push({ panel: "#tab-take", button: name, error: [], file: download.suggestedFilename() });
      }
      // A bad address is refused before anything is sent.
      await take.getByLabel("Your relay (wss://…)").fill("https://example.org");
      await take.getByRole("button", { name: "Copy my events there" }).click();
      await page.waitForSelector("#tab-take .form-error:not(:empty)");
      result.badMirror = await page.textContent("#tab-take .form-error:not(:empty)");
      await take.getByLabel("Your relay (wss://…)").fill(input.mirror);
      await take.getByRole("button", { name: "Copy my events there" }).click();
      await page.waitForFunction(() => /accepted/.test(document.querySelector("#tab-take .mirror-status")?.textContent ?? "")
        || document.querySelector("#tab-take form .form-error:not(:empty)"), null, { timeout: 30000 });
      result.mirrorStatus = await page.textContent("#tab-take .mirror-status");
      result.mirrorError = await page.textContent("#tab-take form .form-error");
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
