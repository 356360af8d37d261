// The Access log tab (DESIGN.md §11): who outside the practice read her chart. The FHIR
// gateway writes a kind 2107 audit event for each disclosure, with a copy sealed to her; the
// core (WebAssembly) verifies each one, checks it was written by the practice's gateway, and
// opens it through her signer. Fetched when the tab is first opened.
import { openAccessLog } from "/assets/ehr_web_wasm.js";
import { empty, table } from "/chart-view.js";
import { el } from "/dom.js";
import { filter, rostersOf } from "/protocol.js";

const INTERACTIONS = {
  read: "read a record",
  vread: "read a version of a record",
  "search-type": "searched your records",
  "search-system": "searched records",
  operation: "retrieved records (an operation such as $everything or $summary)",
  "history-instance": "read a record's history",
};
const OUTCOMES = { 0: "answered", 4: "refused", 8: "failed", 12: "failed" };

export async function mountAccessLog(panel, { connection, signer, relay, events, ward }) {
  panel.append(el("h3", { text: "Access log" }),
    el("p", { className: "help", text: "Organisations outside your practice that read your records through its FHIR gateway, and everyone who opened one of your SMART Health Links, newest first." }));
  if (!connection || !signer || !relay) return panel.append(empty("Not available in this view."));
  // Audit copies are sealed to the patient alone: a guardian sees her own log, not a ward's.
  if (ward) return panel.append(empty("The access log of this chart is shown to the patient only."));
  const status = el("p", { attrs: { role: "status" }, text: "Fetching the access log…" });
  panel.append(status);
  const audits = await (await relay()).fetchAll(filter("audit", [signer.publicKey]));
  const log = JSON.parse(await openAccessLog(connection.practice, signer,
    JSON.stringify([...rostersOf(events), ...audits])));
  status.textContent = log.refused.length === 0
    ? ""
    : `${log.refused.length} access log entries could not be verified and are not shown.`;
  if (log.entries.length === 0) return panel.append(empty("Nobody outside your practice has read your records."));
  // Break-glass accesses first, impossible to miss: who, why, when.
  const emergencies = log.entries.filter((entry) => entry.kind === "emergency");
  if (emergencies.length > 0) {
    panel.append(el("div", { className: "emergency-accesses", attrs: { role: "region", "aria-label": "Emergency accesses" } },
      el("h4", { text: "Emergency access to your summary" }),
      el("ul", {}, ...emergencies.map((entry) => el("li", { className: "emergency-access" },
        el("strong", { text: `Emergency access by ${entry.facility}: ${entry.reason || "no reason given"}` }),
        el("span", { text: ` — ${when(entry)}, ${OUTCOMES[entry.outcome] ?? String(entry.outcome ?? "")}` }))))));
  }
  panel.append(table("Who read your records", ["Who", "When", "What", "Result"],
    log.entries.map((entry) => ({
      cells: [
        entry.kind === "shl" ? (entry.recipient || "Someone (no name given)") : entry.facility,
        when(entry),
        what(entry),
        [OUTCOMES[entry.outcome] ?? String(entry.outcome ?? ""), entry.outcome_text && `(${entry.outcome_text})`].filter(Boolean).join(" "),
      ],
    }))));
}

function when(entry) {
  return typeof entry.recorded === "string" ? entry.recorded.replace("T", " ").slice(0, 16) : "";
}

// What was done, as she reads it.
function what(entry) {
  if (entry.kind === "shl") {
    return `Opened your SMART Health Link "${entry.label ?? "(no label)"}"`;
  }
  if (entry.kind === "emergency") {
    return `Emergency access to your summary: ${entry.reason || "no reason given"}`;
  }
  return [INTERACTIONS[entry.interaction] ?? entry.interaction, entry.parameters && `(filters: ${entry.parameters})`].filter(Boolean).join(" ");
}
