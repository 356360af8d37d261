// What a patient writes and takes with her (DESIGN.md §11): things she takes, messages with
// her practice, consent to FHIR sharing. Every FHIR resource is built, and every event signed
// and checked, by ehr-client's core in WebAssembly (through whatever signer she logged in
// with); this file only draws the forms, publishes to the relay and reloads the chart.
// DOM text goes through textContent only (trusted types).
import {
  consentGrant, consentWithdrawal, exportEvents, messageThreads, patientMessage,
  reportedMedication, sharingState, signPatientEvent,
} from "/assets/ehr_web_wasm.js";
import { empty, isReported } from "/chart-view.js";
import { download, el } from "/dom.js";
import { Relay, signAuth } from "/relay.js";

// What only the patient herself does: in a ward's chart (a guardian reading it) the tab says
// so instead, so nothing is written, exported or shared under the guardian's key for the ward.
export function patientOnly(mount) {
  return (panel, context) => (context.ward
    ? panel.append(empty("This part is for the patient herself: it is not shown for a ward's chart."))
    : mount(panel, context));
}

// Each tab: {id, label, mount(panel, context)}; chart.js's registerTab takes the same shape.
const RECORD_TABS = [
  { id: "reported", label: "Things I take", mount: patientOnly(mountReported) },
  { id: "messages", label: "Messages", mount: patientOnly(mountMessages) },
  { id: "consent", label: "Sharing", mount: patientOnly(mountConsent) },
  { id: "take", label: "Take my records", mount: patientOnly(mountTake) },
];

let fieldIds = 0;
// A labelled input (or textarea): [wrapper, input].
function field(label, props = {}, tag = "input") {
  const id = `${props.name ?? "field"}-${++fieldIds}`;
  const input = el(tag, { id, ...props });
  return [el("div", { class: "field" }, el("label", { htmlFor: id, text: label }), input), input];
}

const today = () => new Date().toISOString().slice(0, 10);
const now = () => Math.floor(Date.now() / 1000);

// Sign `resource` (FHIR JSON from the core) as hers and publish it to her practice's relay.
// Returns the signed event. Throws with a message she can read.
export async function publishResource(context, resource) {
  const { connection, signer, events, relay } = context;
  // In a ward's chart, her guardian signs for her, under the ward's key (appointments only).
  const signed = context.ward
    ? signer.key.signWardRecord(connection.practice, context.ward.ward, JSON.stringify(context.keyEvents), resource, now())
    : await signPatientEvent(signer, connection.practice, JSON.stringify(events), resource, now());
  const event = JSON.parse(signed);
  await (await relay()).publish(event);
  return event;
}

// A form that builds a resource, publishes it and reloads the chart; errors go to its alert.
function recordForm(context, { label, fields, build, done }) {
  const status = el("p", { role: "status", class: "form-status" });
  const alert = el("p", { role: "alert", class: "form-error" });
  const button = el("button", { type: "submit", text: label });
  const form = el("form", {}, ...fields, button, status, alert);
  form.addEventListener("submit", async (submit) => {
    submit.preventDefault();
    alert.textContent = "";
    status.textContent = "Signing and sending…";
    button.disabled = true;
    try {
      await publishResource(context, build());
    } catch (error) {
      status.textContent = "";
      alert.textContent = `Not sent: ${error?.message ?? error}`;
      button.disabled = false;
      return;
    }
    status.textContent = done;
    form.reset();
    try {
      // app.js sets reload: the chart is fetched and drawn again, these panels with it.
      await context.reload?.();
    } catch (error) {
      // It was sent: say so, and only that the chart could not be shown again.
      alert.textContent = `Sent, but your chart could not be reloaded: ${error?.message ?? error}`;
    } finally {
      button.disabled = false;
    }
    // A count of completed writes, for tests and assistive scripts to wait on.
    const root = document.documentElement;
    root.dataset.recordsWritten = String(Number(root.dataset.recordsWritten ?? 0) + 1);
  });
  return form;
}

function chartJson(context) {
  return JSON.stringify(context.chart);
}

function mountReported(panel, context) {
  const [nameField, name] = field("Name (for example a supplement)", { name: "reported-name", required: true, autocomplete: "off" });
  const [doseField, dose] = field("How you take it (optional)", { name: "reported-dose", autocomplete: "off" });
  const mine = context.chart.bundle.entry
    .map(({ resource }) => resource)
    .filter((r) => r.resourceType === "MedicationRequest" && isReported(r));
  const list = el("ul", { class: "reported-list" }, ...mine.map((r) =>
    el("li", { text: [r.medicationCodeableConcept?.text, r.dosageInstruction?.[0]?.text].filter(Boolean).join(" — ") })));
  panel.append(
    el("h2", { text: "Add something I take or have" }),
    el("p", { text: "What you add is marked as reported by you, in your chart and in your practice's." }),
    recordForm(context, {
      label: "Add to my record",
      fields: [nameField, doseField],
      build: () => reportedMedication(chartJson(context), name.value, dose.value, today()),
      done: "Added. Your chart was reloaded.",
    }),
    el("h3", { text: "What you reported" }),
    mine.length ? list : el("p", { text: "Nothing yet." }),
  );
}

function mountMessages(panel, context) {
  const { threads } = JSON.parse(messageThreads(context.connection.practice, JSON.stringify(context.events), chartJson(context)));
  panel.append(el("h2", { text: "Messages" }));
  if (threads.length === 0) panel.append(el("p", { text: "No messages yet." }));
  for (const thread of threads) {
    const messages = el("ol", { class: "thread" }, ...thread.messages.map((m) =>
      el("li", { class: m.mine ? "message mine" : "message" },
        el("p", { class: "message-meta" },
          el("strong", { class: "message-from", text: m.from }),
          el("span", { text: ` · ${(m.sent ?? "").replace("T", " ").slice(0, 16)}` })),
        el("p", { class: "message-text", text: m.text ?? "" }))));
    const last = thread.messages[thread.messages.length - 1];
    const [replyField, reply] = field("Reply", { name: "reply", required: true, rows: 3 }, "textarea");
    const article = el("article", { class: "thread-card" },
      el("h3", { text: thread.topic ?? "(no subject)" }),
      messages,
      recordForm(context, {
        label: "Send reply",
        fields: [replyField],
        build: () => patientMessage(chartJson(context), "", reply.value, last.id, new Date().toISOString()),
        done: "Reply sent.",
      }));
    article.dataset.thread = thread.id;
    panel.append(article);
  }
  const [subjectField, subject] = field("Subject", { name: "subject", required: true, autocomplete: "off" });
  const [bodyField, body] = field("Message", { name: "message", required: true, rows: 4 }, "textarea");
  panel.append(
    el("h3", { text: "New message to your practice" }),
    recordForm(context, {
      label: "Send message",
      fields: [subjectField, bodyField],
      build: () => patientMessage(chartJson(context), subject.value, body.value, "", new Date().toISOString()),
      done: "Message sent.",
    }),
  );
}

function mountConsent(panel, context) {
  const state = JSON.parse(sharingState(chartJson(context)));
  panel.append(el("h2", { text: "Sharing with other facilities" }));
  const summary = el("p", { class: "sharing-state" });
  summary.textContent = state.sharing
    ? `You share your chart through your practice's FHIR gateway with: ${state.facilities.map((f) => (f === "*" ? "every facility your practice registered" : f)).join(", ")}.`
    : "You do not share your chart with other facilities.";
  panel.append(summary, el("p", {
    text: "A change counts once your practice's staff confirm it. Stopping takes effect at once: the gateway stops serving your records as soon as it sees your withdrawal.",
  }));
  if (state.sharing) {
    panel.append(recordForm(context, {
      label: "Stop sharing",
      fields: [],
      build: () => consentWithdrawal(JSON.stringify(state.consent)),
      done: "Sharing withdrawn.",
    }));
  } else {
    const [facilityField, facility] = field("Facility ID (as your practice gave it)", { name: "facility", required: true, autocomplete: "off" });
    panel.append(recordForm(context, {
      label: "Share my chart",
      fields: [facilityField],
      build: () => consentGrant(chartJson(context), JSON.stringify([facility.value]), today()),
      done: "Consent recorded; sharing starts when your practice confirms it.",
    }));
  }
}

// Her verified events (rosters first), one signed event per line.
function rawEvents(context) {
  return exportEvents(context.connection.practice, context.signer.publicKey, JSON.stringify(context.events));
}

// Publish `events` to `url` (a NIP-01 relay of hers): {accepted, refused, reasons}. A relay
// that asks for NIP-42 gets her AUTH once, and the refused event is sent again.
async function mirror(url, events, signer) {
  const relay = await Relay.open(url);
  const counts = { accepted: 0, refused: 0, reasons: [] };
  let authenticated = false;
  try {
    for (const event of events) {
      for (let attempt = 0; ; attempt += 1) {
        try {
          await relay.publish(event);
          counts.accepted += 1;
        } catch (error) {
          const reason = String(error?.message ?? error);
          if (!authenticated && attempt === 0 && reason.includes("auth-required")) {
            await relay.authenticate((challenge) => signAuth(signer, url, challenge));
            authenticated = true;
            continue;
          }
          if (reason.includes("duplicate")) counts.accepted += 1;
          else {
            counts.refused += 1;
            counts.reasons.push(reason);
          }
        }
        break;
      }
    }
  } finally {
    relay.close();
  }
  return counts;
}

function mountTake(panel, context) {
  const stamp = today();
  const bundleButton = el("button", { type: "button", text: "Download my chart (FHIR R4 Bundle)" });
  bundleButton.addEventListener("click", () =>
    download(new Blob([JSON.stringify(context.chart.bundle, null, 2)], { type: "application/fhir+json" }),
      `chart-${stamp}.fhir.json`));
  const eventsButton = el("button", { type: "button", text: "Download my raw events (JSONL)" });
  const alert = el("p", { role: "alert", class: "form-error" });
  eventsButton.addEventListener("click", () => {
    alert.textContent = "";
    try {
      download(new Blob([rawEvents(context)], { type: "application/jsonl" }), `events-${stamp}.jsonl`);
    } catch (error) {
      alert.textContent = `Not exported: ${error?.message ?? error}`;
    }
  });
  const [urlField, url] = field("Your relay (wss://…)", { name: "mirror-url", type: "url", required: true, autocomplete: "off" });
  const status = el("p", { role: "status", class: "mirror-status" });
  const mirrorAlert = el("p", { role: "alert", class: "form-error" });
  const button = el("button", { type: "submit", text: "Copy my events there" });
  const form = el("form", {}, urlField, button, status, mirrorAlert);
  form.addEventListener("submit", async (submit) => {
    submit.preventDefault();
    status.textContent = "Copying…";
    mirrorAlert.textContent = "";
    button.disabled = true;
    try {
      if (!/^wss?:\/\//.test(url.value.trim())) throw new Error("the address must start with wss:// (or ws://)");
      const events = rawEvents(context).split("\n").filter(Boolean).map((line) => JSON.parse(line));
      const counts = await mirror(url.value.trim(), events, context.signer);
      status.textContent = `${counts.accepted} of ${events.length} events accepted, ${counts.refused} refused.`;
      if (counts.refused) mirrorAlert.textContent = `Refused: ${[...new Set(counts.reasons)].join("; ")}`;
    } catch (error) {
      status.textContent = "";
      mirrorAlert.textContent = `Not copied: ${error?.message ?? error}`;
    } finally {
      button.disabled = false;
    }
  });
  panel.append(
    el("h2", { text: "Take your records anywhere" }),
    el("p", { text: "The chart as your practice's systems read it, and the signed events it is made of, which anyone can verify." }),
    el("p", {}, bundleButton), el("p", {}, eventsButton), alert,
    el("h3", { text: "Mirror to your own relay" }),
    form,
  );
}

// With chart.js's tab framework: `registerRecordTabs(registerTab)` adds every record tab.
export function registerRecordTabs(registerTab) {
  for (const tab of RECORD_TABS) registerTab(tab);
}
