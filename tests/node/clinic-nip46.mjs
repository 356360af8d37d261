// The clinic app through a NIP-46 remote signer, in headless Chromium: the doctor pastes her
// bunker link, finds Maria, answers her message (signed by the signer) and logs out. Input on
// stdin: {"clinic", "chromium", "bunker", "search", "reply"}. Prints one JSON line.
import { launch, openPatient, readInput, runAndReport, watchedPage } from "./clinic-page.mjs";

const input = await readInput();
const browser = await launch(input);
const watched = await watchedPage(browser, 1280);
const { page } = watched;
await runAndReport(browser, watched, async (result) => {
  await page.goto(input.clinic);
  await page.getByLabel("Remote signer link (bunker://)").fill(input.bunker);
  await page.getByRole("button", { name: "Log in with the remote signer" }).click();
  await page.waitForSelector("#workspace:not([hidden]), #error:not(:empty)", { timeout: 90000 });
  result.error = await page.textContent("#error");
  result.member = await page.textContent("#member");
  await openPatient(page, input.search);
  await page.getByRole("tab", { name: "Messages" }).click();
  const reply = page.locator("#panel-messages form").first();
  await reply.getByLabel("Reply").fill(input.reply);
  await reply.getByRole("button", { name: "Send reply" }).click();
  await page.waitForFunction((text) => document.querySelector("#panel-messages")?.textContent.includes(text)
    || document.querySelector("#panel-messages .form-error")?.textContent, input.reply, { timeout: 90000 });
  result.replyError = await page.locator("#panel-messages .form-error").first().textContent();
  result.replied = (await page.textContent("#panel-messages")).includes(input.reply);
  await page.getByRole("button", { name: "Log out" }).click();
  await page.waitForSelector("#login:not([hidden])");
});
