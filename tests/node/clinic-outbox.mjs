// The clinic app's outbox (offline.js, outbox-view.js) in headless Chromium, against a relay
// the page is given: three events written while it is unreachable wait in order; when it is
// back they are sent in that order, once each; the one it refuses is shown with its reason and
// is not sent again; the two it accepts are reported. Input on stdin: {"clinic", "chromium",
// "screenshot"}. Prints one JSON line.
import { launch, readInput, runAndReport, watchedPage } from "./clinic-page.mjs";

const input = await readInput();
const browser = await launch(input);
const watched = await watchedPage(browser, 1280);
const { page } = watched;
await runAndReport(browser, watched, async (result) => {
  await page.goto(input.clinic);
  await page.locator("#login").waitFor();
  Object.assign(result, await page.evaluate(async () => {
    const { Outbox } = await import("/offline.js");
    const { drawOutbox } = await import("/outbox-view.js");
    const saved = [];
    const device = { write: async (name, value) => saved.push([name, value.map((e) => e.status)]), read: async () => null };
    let down = true;
    const published = [];
    const relay = async () => {
      if (down) throw Object.assign(new Error("the relay could not be reached"), { unreachable: true });
      return {
        publish: async (event) => {
          published.push(event.id);
          if (event.id === "b") {
            const error = new Error("the relay refused the event (restricted: the author's role may not write this kind)");
            error.refused = "restricted: the author's role may not write this kind";
            throw error;
          }
        },
      };
    };
    const outbox = new Outbox(device, relay, [], (o) => drawOutbox(o, () => "Maria"));
    const statuses = [];
    for (const id of ["a", "b", "c"]) statuses.push(await outbox.submit({ id }, "p", `Record ${id}`));
    const offline = document.querySelector("#outbox-summary").textContent;
    down = false;
    await outbox.flush();
    const afterFirst = [...published];
    await outbox.flush();
    document.querySelector("#outbox-summary").click();
    return {
      statuses,
      offline,
      published: afterFirst,
      publishedAgain: published.length - afterFirst.length,
      entries: outbox.entries.map((e) => [e.event.id, e.status, e.reason]),
      summary: document.querySelector("#outbox-summary").textContent,
      panel: document.querySelector("#outbox").textContent,
      saved: saved.length,
    };
  }));
  await page.screenshot({ path: input.screenshot, fullPage: true });
  await page.getByRole("button", { name: "Dismiss the refused Record b" }).click();
  result.afterDismiss = await page.textContent("#outbox-summary");
});
