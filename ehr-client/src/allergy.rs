//! Allergy–medication alerts: does a medication about to be prescribed fall under one of the
//! patient's recorded allergies?
//!
//! A medication is given as its ingredients' generic names (the medication list's
//! `ingredients`). An active, not refuted allergy matches an ingredient when its substance
//! (the `code` text and every coding's display, RxNorm's included) names
//! - the ingredient itself: [`AlertReason::SameIngredient`];
//! - a drug class the ingredient belongs to ("penicillins", "sulfa", "NSAID"), or another
//!   ingredient of that class ("amoxicillin" against ampicillin): [`AlertReason::SameClass`];
//! - a class or ingredient cross-reactive with the ingredient's class (penicillins against
//!   cephalosporins): [`AlertReason::CrossReactive`], a lower-severity warning.
//!
//! Sources of the class table and cross-reactivity:
//! - Khan D. A. et al., "Drug allergy: A 2022 practice parameter update", J Allergy Clin
//!   Immunol 150(6) (2022) 1333-1393: penicillin–cephalosporin cross-reactivity (low, mostly
//!   side-chain driven, hence a warning only); NSAID cross-reactivity (aspirin included, COX-2
//!   selective celecoxib usually tolerated, so not listed); aromatic anticonvulsant
//!   hypersensitivity cross-reactivity; ACE-inhibitor angioedema as a class effect.
//! - Strom B. L. et al., "Absence of cross-reactivity between sulfonamide antibiotics and
//!   sulfonamide nonantibiotics", N Engl J Med 349 (2003) 1628-1635: a "sulfa" allergy alerts
//!   on sulfonamide antibiotics only, not on furosemide, thiazides or celecoxib.
//! - Class membership: WHO ATC classification (J01C penicillins, J01DB-DE cephalosporins, J01DH
//!   carbapenems, J01EC sulfonamides, J01FA macrolides, J01AA tetracyclines, J01MA
//!   fluoroquinolones, M01A/N02BA NSAIDs and salicylates, N02A opioids, C09A ACE inhibitors,
//!   C10AA statins).
//!
//! Not modelled: side-chain-specific beta-lactam rules, excipient allergies, cross-reactivity of
//! carbapenems with penicillins (under 1 %, no alert), and any class not in [`CLASSES`].

use serde::Serialize;

use crate::fhir::{
    AllergyIntolerance, AllergyIntoleranceCriticality, CodeableConcept, RecordAction,
};

/// The drug classes of the alert table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DrugClass {
    /// ATC J01C.
    Penicillins,
    /// ATC J01DB-J01DE.
    Cephalosporins,
    /// ATC J01DH.
    Carbapenems,
    /// ATC J01EC (and J01EE combinations).
    SulfonamideAntibiotics,
    /// ATC J01FA.
    Macrolides,
    /// ATC J01AA.
    Tetracyclines,
    /// ATC J01MA.
    Fluoroquinolones,
    /// ATC M01A and the salicylate aspirin (N02BA).
    Nsaids,
    /// ATC N02A.
    Opioids,
    /// ATC C09A.
    AceInhibitors,
    /// ATC C10AA.
    Statins,
    /// Aromatic anticonvulsants (cross-reactive hypersensitivity syndrome).
    AromaticAnticonvulsants,
}

/// One class: the words that name it in an allergy, and its member ingredients (lower-case
/// generic names; a member matches an ingredient name containing its words in order).
#[derive(Debug)]
pub struct ClassEntry {
    /// The class.
    pub class: DrugClass,
    /// Names of the class itself.
    pub aliases: &'static [&'static str],
    /// Member ingredients.
    pub members: &'static [&'static str],
}

/// The class table.
pub const CLASSES: &[ClassEntry] = &[
    ClassEntry {
        class: DrugClass::Penicillins,
        aliases: &["penicillin", "penicillins"],
        members: &[
            "penicillin",
            "amoxicillin",
            "ampicillin",
            "dicloxacillin",
            "cloxacillin",
            "flucloxacillin",
            "nafcillin",
            "oxacillin",
            "piperacillin",
            "ticarcillin",
        ],
    },
    ClassEntry {
        class: DrugClass::Cephalosporins,
        aliases: &["cephalosporin", "cephalosporins"],
        members: &[
            "cefalexin",
            "cephalexin",
            "cefadroxil",
            "cefazolin",
            "cefaclor",
            "cefprozil",
            "cefuroxime",
            "cefoxitin",
            "cefotetan",
            "cefdinir",
            "cefixime",
            "cefpodoxime",
            "ceftibuten",
            "cefditoren",
            "cefotaxime",
            "ceftriaxone",
            "ceftazidime",
            "cefepime",
            "ceftaroline",
        ],
    },
    ClassEntry {
        class: DrugClass::Carbapenems,
        aliases: &["carbapenem", "carbapenems"],
        members: &["imipenem", "meropenem", "ertapenem", "doripenem"],
    },
    ClassEntry {
        class: DrugClass::SulfonamideAntibiotics,
        aliases: &[
            "sulfa",
            "sulfas",
            "sulpha",
            "sulfonamide",
            "sulfonamides",
            "co trimoxazole",
            "cotrimoxazole",
        ],
        members: &[
            "sulfamethoxazole",
            "sulfadiazine",
            "sulfisoxazole",
            "sulfacetamide",
        ],
    },
    ClassEntry {
        class: DrugClass::Macrolides,
        aliases: &["macrolide", "macrolides"],
        members: &["azithromycin", "clarithromycin", "erythromycin"],
    },
    ClassEntry {
        class: DrugClass::Tetracyclines,
        aliases: &["tetracyclines"],
        members: &[
            "tetracycline",
            "doxycycline",
            "minocycline",
            "demeclocycline",
            "omadacycline",
            "sarecycline",
        ],
    },
    ClassEntry {
        class: DrugClass::Fluoroquinolones,
        aliases: &[
            "fluoroquinolone",
            "fluoroquinolones",
            "quinolone",
            "quinolones",
        ],
        members: &[
            "ciprofloxacin",
            "levofloxacin",
            "moxifloxacin",
            "ofloxacin",
            "norfloxacin",
            "delafloxacin",
            "gemifloxacin",
        ],
    },
    ClassEntry {
        class: DrugClass::Nsaids,
        aliases: &[
            "nsaid",
            "nsaids",
            "nonsteroidal anti inflammatory",
            "non steroidal anti inflammatory",
        ],
        members: &[
            "aspirin",
            "acetylsalicylic acid",
            "ibuprofen",
            "naproxen",
            "diclofenac",
            "ketorolac",
            "indomethacin",
            "meloxicam",
            "ketoprofen",
            "flurbiprofen",
            "etodolac",
            "nabumetone",
            "piroxicam",
            "sulindac",
            "oxaprozin",
            "mefenamic acid",
            "diflunisal",
            "salsalate",
        ],
    },
    ClassEntry {
        class: DrugClass::Opioids,
        aliases: &[
            "opioid",
            "opioids",
            "opiate",
            "opiates",
            "narcotic",
            "narcotics",
        ],
        members: &[
            "morphine",
            "codeine",
            "hydrocodone",
            "oxycodone",
            "hydromorphone",
            "oxymorphone",
            "fentanyl",
            "tramadol",
            "tapentadol",
            "methadone",
            "meperidine",
            "buprenorphine",
        ],
    },
    ClassEntry {
        class: DrugClass::AceInhibitors,
        aliases: &["ace inhibitor", "ace inhibitors", "acei"],
        members: &[
            "lisinopril",
            "enalapril",
            "captopril",
            "ramipril",
            "benazepril",
            "quinapril",
            "fosinopril",
            "perindopril",
            "trandolapril",
            "moexipril",
        ],
    },
    ClassEntry {
        class: DrugClass::Statins,
        aliases: &["statin", "statins", "hmg coa reductase inhibitor"],
        members: &[
            "atorvastatin",
            "simvastatin",
            "rosuvastatin",
            "pravastatin",
            "lovastatin",
            "fluvastatin",
            "pitavastatin",
        ],
    },
    ClassEntry {
        class: DrugClass::AromaticAnticonvulsants,
        aliases: &[
            "anticonvulsant",
            "anticonvulsants",
            "antiepileptic",
            "antiepileptics",
        ],
        members: &[
            "carbamazepine",
            "oxcarbazepine",
            "phenytoin",
            "fosphenytoin",
            "phenobarbital",
            "primidone",
            "lamotrigine",
        ],
    },
];

/// (allergy's class, medication's class): a cross-reactive warning, not a class alert
/// (Khan et al. 2022: penicillin allergy and cephalosporins).
const CROSS_REACTIVE: &[(DrugClass, DrugClass)] =
    &[(DrugClass::Penicillins, DrugClass::Cephalosporins)];

/// Salt and form words an ingredient name may carry ("amoxicillin trihydrate",
/// "clavulanate potassium"): dropped before the ingredient is looked for in an allergy.
const SALT_WORDS: &[&str] = &[
    "sodium",
    "potassium",
    "calcium",
    "magnesium",
    "hydrochloride",
    "hcl",
    "sulfate",
    "trihydrate",
    "hyclate",
    "monohydrate",
    "besylate",
    "maleate",
    "succinate",
    "tartrate",
    "citrate",
    "phosphate",
    "acetate",
    "mesylate",
    "bromide",
    "benzathine",
    "procaine",
];

/// Why an ingredient falls under an allergy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "class", rename_all = "kebab-case")]
pub enum AlertReason {
    /// The allergy names the ingredient.
    SameIngredient,
    /// The allergy names the ingredient's class, or another ingredient of that class.
    SameClass(DrugClass),
    /// The allergy names a class (or one of its ingredients) cross-reactive with the
    /// ingredient's class, given here.
    CrossReactive(DrugClass),
}

/// How loud the alert is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum AlertSeverity {
    /// The allergy's criticality is high.
    High,
    /// Criticality low, or a cross-reactivity warning.
    Low,
    /// The allergy's criticality is unable-to-assess or not recorded.
    Unassessed,
}

/// One alert: an allergy that covers an ingredient of the medication.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AllergyAlert {
    /// The AllergyIntolerance's logical id.
    pub allergy_id: Option<String>,
    /// The allergy's substance as recorded (code text, else the first coding's display).
    pub substance: String,
    /// The medication's ingredient that matched.
    pub ingredient: String,
    /// Why.
    pub reason: AlertReason,
    /// From the allergy's criticality; a cross-reactive warning is at most [`AlertSeverity::Low`].
    pub severity: AlertSeverity,
}

/// The alerts `allergies` raise for a medication of `ingredients` (lower-case generic names):
/// at most one per allergy, the strongest of its reasons over all ingredients
/// (same ingredient, then same class, then cross-reactive). Allergies that [`can_alert`]
/// refuses never alert.
pub fn medication_alerts<S: AsRef<str>>(
    allergies: &[AllergyIntolerance],
    ingredients: &[S],
) -> Vec<AllergyAlert> {
    allergies
        .iter()
        .filter(|a| can_alert(a))
        .filter_map(|allergy| {
            let code = allergy.code.as_ref()?;
            let words = concept_words(code);
            let (ingredient, reason) = ingredients
                .iter()
                .filter_map(|i| match_ingredient(&words, i.as_ref()).map(|r| (i.as_ref(), r)))
                .min_by_key(|(_, r)| rank(r))?;
            Some(AllergyAlert {
                allergy_id: allergy.id.clone(),
                substance: substance_name(code),
                ingredient: ingredient.to_owned(),
                reason,
                severity: severity(allergy.criticality, reason),
            })
        })
        .collect()
}

/// Whether an allergy may alert at all: not deleted (entered in error as a record action),
/// verification status neither `entered-in-error` nor `refuted`, clinical status neither
/// `inactive` nor `resolved` (an absent status counts as active).
pub fn can_alert(allergy: &AllergyIntolerance) -> bool {
    let deleted = allergy.meta.as_ref().is_some_and(|m| {
        m.tag.iter().any(|t| {
            t.system.as_deref() == Some(crate::fhir::ACTION_SYSTEM)
                && t.code.as_deref() == Some(RecordAction::Deletion.code())
        })
    });
    let has = |c: &Option<CodeableConcept>, codes: &[&str]| {
        c.as_ref().is_some_and(|c| {
            c.coding
                .iter()
                .any(|k| k.code.as_deref().is_some_and(|v| codes.contains(&v)))
        })
    };
    !deleted
        && !has(
            &allergy.verification_status,
            &["entered-in-error", "refuted"],
        )
        && !has(&allergy.clinical_status, &["inactive", "resolved"])
}

/// The classes an ingredient belongs to.
pub fn classes_of(ingredient: &str) -> Vec<DrugClass> {
    let words = ingredient_words(ingredient);
    CLASSES
        .iter()
        .filter(|e| {
            e.members
                .iter()
                .any(|m| contains_phrase(&words, &words_of(m)))
        })
        .map(|e| e.class)
        .collect()
}

/// Why `ingredient` falls under an allergy whose substance has `allergy_words`, if it does.
fn match_ingredient(allergy_words: &[String], ingredient: &str) -> Option<AlertReason> {
    let core = ingredient_words(ingredient);
    if !core.is_empty() && contains_phrase(allergy_words, &core) {
        return Some(AlertReason::SameIngredient);
    }
    let med_classes = classes_of(ingredient);
    let named = named_classes(allergy_words);
    if let Some(c) = med_classes.iter().find(|c| named.contains(c)) {
        return Some(AlertReason::SameClass(*c));
    }
    med_classes
        .iter()
        .find(|mc| named.iter().any(|ac| CROSS_REACTIVE.contains(&(*ac, **mc))))
        .map(|c| AlertReason::CrossReactive(*c))
}

/// Classes an allergy's words name, by a class alias or by a member ingredient.
fn named_classes(words: &[String]) -> Vec<DrugClass> {
    CLASSES
        .iter()
        .filter(|e| {
            e.aliases
                .iter()
                .chain(e.members)
                .any(|n| contains_phrase(words, &words_of(n)))
        })
        .map(|e| e.class)
        .collect()
}

fn rank(reason: &AlertReason) -> u8 {
    match reason {
        AlertReason::SameIngredient => 0,
        AlertReason::SameClass(_) => 1,
        AlertReason::CrossReactive(_) => 2,
    }
}

fn severity(
    criticality: Option<AllergyIntoleranceCriticality>,
    reason: AlertReason,
) -> AlertSeverity {
    if matches!(reason, AlertReason::CrossReactive(_)) {
        return AlertSeverity::Low;
    }
    match criticality {
        Some(AllergyIntoleranceCriticality::High) => AlertSeverity::High,
        Some(AllergyIntoleranceCriticality::Low) => AlertSeverity::Low,
        Some(AllergyIntoleranceCriticality::UnableToAssess) | None => AlertSeverity::Unassessed,
    }
}

/// The words of a concept's text and of every coding's display (RxNorm, SNOMED CT, ...).
fn concept_words(code: &CodeableConcept) -> Vec<String> {
    // Each source is kept apart by an empty word so a phrase never spans two of them.
    let mut words = Vec::new();
    for text in code
        .text
        .iter()
        .chain(code.coding.iter().filter_map(|c| c.display.as_ref()))
    {
        words.extend(words_of(text));
        words.push(String::new());
    }
    words
}

fn substance_name(code: &CodeableConcept) -> String {
    code.text
        .clone()
        .or_else(|| code.coding.iter().find_map(|c| c.display.clone()))
        .unwrap_or_default()
}

/// Lower-case alphanumeric words.
fn words_of(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// An ingredient name's words without salt and form words.
fn ingredient_words(ingredient: &str) -> Vec<String> {
    words_of(ingredient)
        .into_iter()
        .filter(|w| !SALT_WORDS.contains(&w.as_str()))
        .collect()
}

/// Whether `phrase` occurs in `words` as consecutive words.
fn contains_phrase(words: &[String], phrase: &[String]) -> bool {
    !phrase.is_empty() && words.windows(phrase.len()).any(|w| w == phrase)
}

#[cfg(test)]
#[path = "allergy/tests.rs"]
mod tests;
