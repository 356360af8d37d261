// What a patient does with her records (DESIGN.md §11): messages, patient-reported entries,
// consent, export, mirror and share. Filled in by the records work of issue 9.
