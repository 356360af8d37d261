// What the clinic app's problem, medication, allergy, immunization and order forms share
// (DESIGN.md §12): the reference lists (/data/*.json, public code lists), a searchable picker
// (WAI-ARIA combobox with a listbox: type, arrow keys, Enter, Escape), the select lists the
// core's builders offer, and small helpers. The core (WebAssembly) builds and validates every
// resource; nothing here decides what a record says. DOM text through textContent only.
import { clinicFormOptions } from "/assets/ehr_web_wasm.js";
import { conceptText, el, resources } from "/chart-view.js";
import { field } from "/writing.js";

const lists = new Map();

// A reference list from /data (same origin), fetched once per page.
export function loadList(name) {
  if (!lists.has(name)) {
    lists.set(name, fetch(`/data/${name}.json`).then((response) => {
      if (!response.ok) throw new Error(`the ${name} list could not be loaded`);
      return response.json();
    }).catch((error) => {
      lists.delete(name);
      throw error;
    }));
  }
  return lists.get(name);
}

let options = null;
// The select lists of the forms, from the core's tables.
export function formOptions() {
  options ??= JSON.parse(clinicFormOptions());
  return options;
}

// Today in the member's time zone, YYYY-MM-DD.
export function today() {
  return new Date().toLocaleDateString("en-CA");
}

// Whether the member's role writes `kind`.
export function writes(context, kind) {
  return (context.member?.writes ?? []).includes(kind);
}

const chartTexts = new WeakMap();
// The opened chart as the JSON text the core reads (computed once per chart).
export function chartJson(context) {
  if (!chartTexts.has(context.chart)) chartTexts.set(context.chart, JSON.stringify(context.chart));
  return chartTexts.get(context.chart);
}

// A titled block of forms under a tab's read view.
export function section(title, ...children) {
  const id = `h-${Math.random().toString(36).slice(2)}`;
  return el("section", { className: "entry", attrs: { "aria-labelledby": id } },
    el("h4", { text: title, id }), ...children);
}

// A labelled <select> of `{value, label}` choices; `blank` adds a first empty choice.
export function choice(label, choices, { blank, value, name } = {}) {
  const [wrap, select] = field(label, { name }, "select");
  if (blank !== undefined) select.append(el("option", { value: "", text: blank }));
  for (const c of choices) select.append(el("option", { value: c.value, text: c.label }));
  if (value !== undefined) select.value = value;
  return [wrap, select];
}

// A <select> of records of the chart (their current versions): `label(resource)` names each.
// Returns [wrapper, select, selected()] where selected() is the chosen resource.
export function recordChoice(label, list, describe) {
  const [wrap, select] = choice(label, list.map((r, i) => ({ value: String(i), label: describe(r) })));
  return [wrap, select, () => list[Number(select.value)]];
}

export function currentOf(context, type, keep = () => true) {
  return resources(context.chart, type).filter(keep);
}

export function nameOf(resource) {
  return conceptText(resource.code ?? resource.medicationCodeableConcept ?? resource.vaccineCode) || "Unnamed";
}

// Lower-case words of a text, for searching.
function words(text) {
  return String(text).toLowerCase().split(/[^a-z0-9.]+/).filter(Boolean);
}

// The entries of `items` matching `query`: by code (its start, dots optional), or every
// query word starting a word of the entry's text. Codes first, then text matches; at most
// `limit`.
export function search(items, query, { code, text, limit = 30 }) {
  const q = query.trim().toLowerCase();
  if (q === "") return [];
  const bare = q.replaceAll(".", "");
  const wanted = words(q);
  const byCode = [];
  const byText = [];
  for (const item of items) {
    const c = String(code(item) ?? "").toLowerCase();
    if (c && (c.startsWith(q) || c.replaceAll(".", "").startsWith(bare))) byCode.push(item);
    else {
      const have = words(text(item));
      if (wanted.every((w) => have.some((h) => h.startsWith(w)))) byText.push(item);
    }
    if (byCode.length >= limit) break;
  }
  return [...byCode, ...byText].slice(0, limit);
}

let pickers = 0;
// A searchable picker (WAI-ARIA 1.2 combobox with a listbox popup): typing filters `items`,
// ArrowDown/ArrowUp move through the matches, Enter or a click chooses, Escape closes. What
// was typed stays as free text when nothing is chosen (when `freeText`). Returns
// { node, input, chosen(), clear() }; `onChoose(item)` runs on a choice.
export function picker({ label, items, code, text, option, freeText = true, help, onChoose }) {
  const n = ++pickers;
  const listId = `picker-${n}-list`;
  const helpId = `picker-${n}-help`;
  const [wrap, input] = field(label, {
    type: "text", autocomplete: "off", spellcheck: false,
    attrs: { role: "combobox", "aria-autocomplete": "list", "aria-expanded": "false", "aria-controls": listId, "aria-describedby": helpId },
  });
  const list = el("ul", { id: listId, className: "picker-list", hidden: true, attrs: { role: "listbox", "aria-label": label } });
  const state = el("p", { id: helpId, className: "help picker-state", attrs: { "aria-live": "polite" }, text: help ?? "" });
  wrap.classList.add("picker");
  wrap.append(list, state);
  let matches = [];
  let active = -1;
  let chosen = null;

  const show = (open) => {
    list.hidden = !open;
    input.setAttribute("aria-expanded", String(open));
    if (!open) input.removeAttribute("aria-activedescendant");
  };
  const describeChoice = () => {
    state.textContent = chosen ? `Chosen: ${option(chosen)}`
      : input.value.trim() === "" ? (help ?? "")
        : freeText ? "Not chosen from the list: saved as free text, without a code." : "Choose an entry from the list.";
  };
  const mark = (index) => {
    active = index;
    [...list.children].forEach((li, i) => li.setAttribute("aria-selected", String(i === index)));
    const li = list.children[index];
    if (li) {
      input.setAttribute("aria-activedescendant", li.id);
      li.scrollIntoView({ block: "nearest" });
    } else input.removeAttribute("aria-activedescendant");
  };
  const choose = (item) => {
    chosen = item;
    input.value = text(item);
    show(false);
    describeChoice();
    onChoose?.(item);
  };
  const refresh = () => {
    matches = search(items, input.value, { code, text });
    list.replaceChildren(...matches.map((item, i) => {
      const li = el("li", { id: `${listId}-${i}`, text: option(item), attrs: { role: "option", "aria-selected": "false" } });
      // mousedown would blur the input first.
      li.addEventListener("mousedown", (e) => e.preventDefault());
      li.addEventListener("click", () => choose(item));
      return li;
    }));
    active = -1;
    show(matches.length > 0);
  };
  input.addEventListener("input", () => {
    chosen = null;
    refresh();
    describeChoice();
  });
  input.addEventListener("keydown", (e) => {
    const open = !list.hidden;
    if (e.key === "ArrowDown" || e.key === "ArrowUp") {
      e.preventDefault();
      if (!open) refresh();
      if (matches.length === 0) return;
      const step = e.key === "ArrowDown" ? 1 : -1;
      mark((active + step + matches.length) % matches.length);
    } else if (e.key === "Enter" && open && active >= 0) {
      e.preventDefault();
      choose(matches[active]);
    } else if (e.key === "Escape" && open) {
      e.preventDefault();
      show(false);
    }
  });
  input.addEventListener("blur", () => show(false));
  return {
    node: wrap,
    input,
    chosen: () => chosen,
    clear: () => { chosen = null; input.value = ""; describeChoice(); },
  };
}
