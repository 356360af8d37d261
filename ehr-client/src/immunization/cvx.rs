//! CVX codes to vaccine groups.
//!
//! From the CDC's CVX code set ("IIS: HL7 Standard Code Set Mapping CVX -- Vaccines
//! Administered", CDC National Center for Immunization and Respiratory Diseases) and its
//! vaccine-group mapping ("CVX-Vaccine Group"), for the vaccines of the routine childhood
//! schedule. A combination vaccine belongs to every group it covers (110 Pediarix is DTaP,
//! HepB and IPV). Not exhaustive: codes for products never used in US children, and the
//! yearly new influenza and COVID-19 codes, may be missing; an unknown code maps to no group.

use super::VaccineGroup::{self, *};

/// (CVX code, groups). Codes are written without leading zeros.
const CVX: &[(&str, &[VaccineGroup])] = &[
    // Hepatitis B.
    ("8", &[HepB]),         // Hep B, adolescent or pediatric
    ("42", &[HepB]),        // Hep B, adolescent/high risk infant
    ("43", &[HepB]),        // Hep B, adult
    ("44", &[HepB]),        // Hep B, dialysis
    ("45", &[HepB]),        // Hep B, unspecified formulation
    ("189", &[HepB]),       // HepB-CpG (Heplisav-B)
    ("220", &[HepB]),       // HepB recombinant, 3-antigen (PreHevbrio)
    ("51", &[Hib, HepB]),   // Hib-Hep B (Comvax)
    ("104", &[HepA, HepB]), // Hep A-Hep B (Twinrix)
    ("193", &[HepA, HepB]), // Hep A-Hep B, pediatric/adolescent (non-US)
    // Rotavirus.
    ("74", &[Rv]),  // rotavirus, tetravalent (RotaShield)
    ("116", &[Rv]), // rotavirus, pentavalent (RotaTeq)
    ("119", &[Rv]), // rotavirus, monovalent (Rotarix)
    ("122", &[Rv]), // rotavirus, unspecified formulation
    // Diphtheria, tetanus, pertussis (pediatric). DT (28) counts in the DTaP series for
    // diphtheria and tetanus, as the CDC maps it.
    ("1", &[DTaP]),                   // DTP
    ("20", &[DTaP]),                  // DTaP
    ("28", &[DTaP]),                  // DT, pediatric
    ("106", &[DTaP]),                 // DTaP, 5 pertussis antigens
    ("107", &[DTaP]),                 // DTaP, unspecified formulation
    ("22", &[DTaP, Hib]),             // DTP-Hib
    ("50", &[DTaP, Hib]),             // DTaP-Hib
    ("102", &[DTaP, Hib, HepB]),      // DTP-Hib-Hep B
    ("110", &[DTaP, HepB, Ipv]),      // DTaP-Hep B-IPV (Pediarix)
    ("120", &[DTaP, Hib, Ipv]),       // DTaP-Hib-IPV (Pentacel)
    ("130", &[DTaP, Ipv]),            // DTaP-IPV (Kinrix, Quadracel)
    ("146", &[DTaP, Ipv, Hib, HepB]), // DTaP-IPV-Hib-HepB (Vaxelis)
    ("132", &[DTaP, Ipv, Hib, HepB]), // DTaP-IPV-Hib-HepB, historical
    ("195", &[DTaP, Ipv]),            // DT, IPV adsorbed
    ("198", &[DTaP, HepB, Hib]),      // DTP-HepB-Hib pentavalent, non-US
    ("170", &[DTaP, Ipv, Hib]),       // DTaP-IPV-Hib, non-US
    // Haemophilus influenzae type b.
    ("17", &[Hib]),  // Hib, unspecified formulation
    ("46", &[Hib]),  // Hib (PRP-D)
    ("47", &[Hib]),  // Hib (HbOC)
    ("48", &[Hib]),  // Hib (PRP-T)
    ("49", &[Hib]),  // Hib (PRP-OMP)
    ("148", &[Hib]), // Meningococcal C/Y-Hib PRP (MenHibrix)
    // Pneumococcal conjugate (the polysaccharide PPSV23, 33, is not in the PCV series).
    ("100", &[Pcv]), // PCV7
    ("133", &[Pcv]), // PCV13
    ("152", &[Pcv]), // pneumococcal conjugate, unspecified formulation
    ("215", &[Pcv]), // PCV15
    ("216", &[Pcv]), // PCV20
    // Polio: IPV and trivalent OPV count; bivalent and monovalent OPV do not (schedule notes).
    ("2", &[Ipv]),  // OPV, trivalent
    ("10", &[Ipv]), // IPV
    ("89", &[Ipv]), // polio, unspecified formulation
    // Influenza.
    ("15", &[Influenza]),  // influenza, split (incl. purified surface antigen)
    ("16", &[Influenza]),  // influenza, whole
    ("88", &[Influenza]),  // influenza, unspecified formulation
    ("111", &[Influenza]), // influenza, live, intranasal (LAIV3)
    ("135", &[Influenza]), // influenza, high dose seasonal
    ("140", &[Influenza]), // influenza, seasonal, injectable, preservative free
    ("141", &[Influenza]), // influenza, seasonal, injectable
    ("144", &[Influenza]), // influenza, seasonal, intradermal, preservative free
    ("149", &[Influenza]), // influenza, live, intranasal, quadrivalent
    ("151", &[Influenza]), // influenza nasal, unspecified formulation
    ("150", &[Influenza]), // influenza, injectable, quadrivalent, preservative free
    ("153", &[Influenza]), // influenza, injectable, MDCK, preservative free
    ("155", &[Influenza]), // influenza, recombinant, injectable, preservative free
    ("158", &[Influenza]), // influenza, injectable, quadrivalent
    ("161", &[Influenza]), // influenza, injectable, quadrivalent, preservative free, pediatric
    ("166", &[Influenza]), // influenza, intradermal, quadrivalent, preservative free
    ("168", &[Influenza]), // influenza, trivalent, adjuvanted
    ("171", &[Influenza]), // influenza, injectable, MDCK, preservative free, quadrivalent
    ("185", &[Influenza]), // influenza, recombinant, quadrivalent, preservative free
    ("186", &[Influenza]), // influenza, injectable, MDCK, quadrivalent, preservative
    ("197", &[Influenza]), // influenza, high-dose, quadrivalent
    ("205", &[Influenza]), // influenza, adjuvanted, quadrivalent
    // Measles, mumps, rubella and varicella.
    ("3", &[Mmr]),             // MMR
    ("94", &[Mmr, Varicella]), // MMRV (ProQuad)
    ("21", &[Varicella]),      // varicella
    // Hepatitis A.
    ("31", &[HepA]), // Hep A, pediatric, unspecified formulation
    ("52", &[HepA]), // Hep A, adult
    ("83", &[HepA]), // Hep A, ped/adol, 2 dose
    ("84", &[HepA]), // Hep A, ped/adol, 3 dose
    ("85", &[HepA]), // Hep A, unspecified formulation
    // Tdap (Td, 9/113/138/139/196, has no pertussis and is not the adolescent Tdap dose).
    ("115", &[Tdap]), // Tdap
    // Human papillomavirus.
    ("62", &[Hpv]),  // HPV, quadrivalent
    ("118", &[Hpv]), // HPV, bivalent
    ("137", &[Hpv]), // HPV, unspecified formulation
    ("165", &[Hpv]), // HPV9
    // Meningococcal ACWY conjugate (the polysaccharide MPSV4, 32, is not counted).
    ("108", &[MenACWY]), // meningococcal ACWY, unspecified formulation
    ("114", &[MenACWY]), // MenACWY-D (Menactra)
    ("136", &[MenACWY]), // MenACWY-CRM (Menveo)
    ("147", &[MenACWY]), // MCV4, unspecified formulation
    ("203", &[MenACWY]), // MenACWY-TT (MenQuadfi)
    // Meningococcal B.
    ("162", &[MenB]), // MenB-FHbp (Trumenba)
    ("163", &[MenB]), // MenB-4C (Bexsero)
    ("164", &[MenB]), // MenB, unspecified formulation
    // COVID-19.
    ("207", &[Covid]), // Moderna mRNA
    ("208", &[Covid]), // Pfizer-BioNTech mRNA
    ("210", &[Covid]), // AstraZeneca viral vector
    ("211", &[Covid]), // Novavax subunit
    ("212", &[Covid]), // Janssen viral vector
    ("213", &[Covid]), // SARS-COV-2, unspecified
    ("217", &[Covid]), // Pfizer, 12 years and older, tris-sucrose
    ("218", &[Covid]), // Pfizer, 5-11 years
    ("219", &[Covid]), // Pfizer, 6 months-4 years
    ("221", &[Covid]), // Moderna, 50 mcg
    ("228", &[Covid]), // Moderna, 25 mcg
    ("229", &[Covid]), // Moderna bivalent
    ("230", &[Covid]), // Moderna bivalent, 6 months-5 years
    ("300", &[Covid]), // Pfizer bivalent, 12 years and older
    ("301", &[Covid]), // Pfizer bivalent, 5-11 years
    ("302", &[Covid]), // Pfizer bivalent, 6 months-4 years
];

/// The groups of a CVX code ("08" and "8" are the same code); empty when unknown.
pub(super) fn groups(code: &str) -> &'static [VaccineGroup] {
    let code = code.trim().trim_start_matches('0');
    CVX.iter().find(|(c, _)| *c == code).map_or(&[], |(_, g)| g)
}
