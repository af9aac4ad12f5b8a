"""Code lists (DfE SSDA903 / CIN census) and the weights the simulation draws from."""

from __future__ import annotations

import numpy as np

# --------------------------------------------------------------------------- ethnicity
# DfE ethnicity codes, weights roughly those of children looked after in England.
ETHNIC = [
    ("WBRI", 63.0),
    ("WIRI", 0.4),
    ("WOTH", 5.5),
    ("WIRT", 0.3),
    ("WROM", 0.8),
    ("MWBC", 3.6),
    ("MWBA", 1.1),
    ("MWAS", 1.4),
    ("MOTH", 3.6),
    ("AIND", 1.0),
    ("APKN", 1.8),
    ("ABAN", 0.9),
    ("AOTH", 2.0),
    ("BCRB", 1.6),
    ("BAFR", 3.8),
    ("BOTH", 1.6),
    ("CHNE", 0.2),
    ("OOTH", 4.4),
    ("REFU", 1.2),
    ("NOBT", 1.3),
]
ETHNIC_CODES = np.array([c for c, _ in ETHNIC], dtype=object)
ETHNIC_P = np.array([w for _, w in ETHNIC]) / sum(w for _, w in ETHNIC)

# --------------------------------------------------------------------------- CIN census
REFERRAL_SOURCE = [
    ("1A", 3.0),
    ("1B", 1.5),
    ("1C", 1.5),
    ("1D", 1.0),
    ("2A", 17.0),
    ("2B", 2.0),
    ("3A", 2.0),
    ("3B", 2.5),
    ("3C", 4.0),
    ("3D", 1.5),
    ("3E", 2.5),
    ("3F", 2.5),
    ("4", 2.0),
    ("5A", 4.0),
    ("5B", 2.5),
    ("5C", 3.0),
    ("5D", 6.0),
    ("6", 29.0),
    ("7", 3.0),
    ("8", 5.0),
    ("9", 1.5),
    ("10", 1.0),
]
PRIMARY_NEED = [
    ("N1", 56.0),
    ("N2", 9.0),
    ("N3", 3.5),
    ("N4", 9.5),
    ("N5", 14.0),
    ("N6", 2.0),
    ("N7", 0.3),
    ("N8", 3.0),
    ("N9", 2.7),
]
NEED_CODES = np.array([c for c, _ in PRIMARY_NEED], dtype=object)
NEED_P = np.array([w for _, w in PRIMARY_NEED]) / sum(w for _, w in PRIMARY_NEED)
NEED_N2 = 1
NEED_N9 = 8
SOURCE_CODES = np.array([c for c, _ in REFERRAL_SOURCE], dtype=object)
SOURCE_P = np.array([w for _, w in REFERRAL_SOURCE]) / sum(w for _, w in REFERRAL_SOURCE)

# ReasonForClosure
RC = np.array(["RC1", "RC2", "RC3", "RC4", "RC5", "RC6", "RC7", "RC8", "RC9"], dtype=object)
# Codes the CIN census gained in 2022-23: referral source 5D (earlier referrals from
# other health services were 5C) and closure RC9, referred to early help (before, RC8)
CIN_2023_FROM = "2022-04-01"
SOURCE_5C, SOURCE_5D = list(SOURCE_CODES).index("5C"), list(SOURCE_CODES).index("5D")
RC8, RC9 = 7, 8
ABUSE = np.array(["NEG", "EMO", "PHY", "SAB", "MUL"], dtype=object)
ABUSE_P = np.array([0.50, 0.37, 0.07, 0.04, 0.02])
DISABILITY = np.array(
    ["AUT", "BEH", "COMM", "CON", "DDA", "HAND", "HEAR", "INC", "LD", "MOB", "PC", "VIS"],
    dtype=object,
)
ASSESSMENT_FACTORS = np.array(
    [
        "1A",
        "1B",
        "1C",
        "2A",
        "2B",
        "2C",
        "3A",
        "3B",
        "3C",
        "4A",
        "4B",
        "4C",
        "5A",
        "5B",
        "5C",
        "6A",
        "6B",
        "6C",
        "7A",
        "8B",
        "8C",
        "8D",
        "8E",
        "8F",
        "9A",
        "10A",
        "11A",
        "12A",
        "13A",
        "14A",
        "15A",
        "16A",
        "17A",
        "18B",
        "18C",
        "19B",
        "19C",
        "20",
        "21",
        "22A",
        "23A",
        "24A",
    ],
    dtype=object,
)
# Factors DfE added to the list: 18B/18C/19B/19C in 2020-21 (before, 18A and 19A), 24A
# in 2021-22; (first collection year, code written before it)
FACTOR_FROM = {
    "18B": (2021, "18A"),
    "18C": (2021, "18A"),
    "19B": (2021, "19A"),
    "19C": (2021, "19A"),
    "24A": (2022, "23A"),
}

# --------------------------------------------------------------------------- SSDA903
LS_CODES = np.array(
    ["C1", "C2", "D1", "E1", "V2", "V3", "V4", "L1", "L2", "L3", "J1", "J2", "J3"], dtype=object
)
LS = {c: i for i, c in enumerate(LS_CODES)}

PLACE_CODES = np.array(
    [
        "A3",
        "A4",
        "A5",
        "A6",
        "H5",
        "K1",
        "K2",
        "K3",
        "P1",
        "P2",
        "P3",
        "R1",
        "R2",
        "R3",
        "R5",
        "S1",
        "T0",
        "T1",
        "T2",
        "T3",
        "T4",
        "U1",
        "U2",
        "U3",
        "U4",
        "U5",
        "U6",
        "Z1",
        "Z11",
        "Z12",
        "Z13",
        "Z14",
    ],
    dtype=object,
)
PL = {c: i for i, c in enumerate(PLACE_CODES)}

PROVIDER_CODES = np.array(["PR0", "PR1", "PR2", "PR3", "PR4", "PR5"], dtype=object)
# DfE SSDA903 validation rules (csc-validator-be-903, lac2022_23 - lac2026_27):
# no PLACE_PROVIDER for temporary placements and "other" placements (rules 178, 213)
NO_PROVIDER = ("T0", "T1", "T2", "T3", "T4", "Z1", "Z11", "Z12", "Z13", "Z14")
# no Ofsted URN for placements Ofsted does not register (rule 222; H5 until the
# supported-accommodation reform of 28 October 2023, rule 230)
NO_URN = (
    "P1",
    "P2",
    "P3",
    "R1",
    "R2",
    "R5",
    "T0",
    "T1",
    "T2",
    "T3",
    "T4",
    "Z1",
    "Z11",
    "Z12",
    "Z13",
    "Z14",
)
# the URN placeholder XXXXXXX only for adoption placements (rule 242)
URN_PLACEHOLDER = ("A3", "A4", "A5", "A6")
FOSTER = ("U1", "U2", "U3", "U4", "U5", "U6")

RNE_CODES = np.array(["S", "L", "P", "T", "B", "U"], dtype=object)
RNE = {c: i for i, c in enumerate(RNE_CODES)}

REC_CODES = np.array(
    [
        "X1",
        "E11",
        "E12",
        "E13",
        "E14",
        "E15",
        "E16",
        "E17",
        "E2",
        "E3",
        "E41",
        "E45",
        "E46",
        "E47",
        "E48",
        "E4A",
        "E4B",
        "E5",
        "E6",
        "E7",
        "E8",
        "E9",
        # special guardianship until 2017-18 (replaced by E45-E48 from 2018-19)
        "E43",
        "E44",
    ],
    dtype=object,
)
REC = {c: i for i, c in enumerate(REC_CODES)}
# E45/E46 (to former foster carers) were E43 and E47/E48 (to other carers) were E44 for
# episodes ending before 1 April 2018 (DfE SSDA903 guide 2018 to 2019)
SG_BEFORE_2018 = {
    REC["E45"]: REC["E43"],
    REC["E46"]: REC["E43"],
    REC["E47"]: REC["E44"],
    REC["E48"]: REC["E44"],
}

RPC = [
    ("CARPL", 34),
    ("CLOSE", 4),
    ("ALLEG", 2),
    ("STAND", 3),
    ("APPRR", 2),
    ("CREQB", 16),
    ("CREQO", 9),
    ("CHILD", 8),
    ("LAREQ", 9),
    ("PLACE", 5),
    ("OTHER", 8),
]
RPC_CODES = np.array([c for c, _ in RPC], dtype=object)
RPC_P = np.array([w for _, w in RPC]) / sum(w for _, w in RPC)

# Exit routes of a period of care.
(
    R_ADOPT,
    R_SGO,
    R_CAO,
    R_HOME_A,
    R_HOME_B,
    R_E13,
    R_E8,
    R_LONG,
    R_E9,
    R_E3,
    R_E16,
    R_E15,
    R_E2,
    R_INDEP,
) = range(14)
N_ROUTES = 14
# weights by age band at entry: <1, 1-4, 5-9, 10-15, 16-17
ROUTE_W = np.array(
    [
        # ADOPT  SGO   CAO  HOME_A HOME_B E13   E8    LONG  E9    E3    E16   E15   E2    INDEP
        [
            0.300,
            0.180,
            0.040,
            0.250,
            0.040,
            0.050,
            0.040,
            0.080,
            0.000,
            0.010,
            0.005,
            0.000,
            0.005,
            0.000,
        ],
        [
            0.160,
            0.180,
            0.050,
            0.300,
            0.060,
            0.060,
            0.060,
            0.108,
            0.000,
            0.015,
            0.005,
            0.000,
            0.002,
            0.000,
        ],
        [
            0.020,
            0.120,
            0.050,
            0.340,
            0.080,
            0.080,
            0.080,
            0.185,
            0.000,
            0.015,
            0.008,
            0.000,
            0.002,
            0.000,
        ],
        [
            0.000,
            0.040,
            0.020,
            0.330,
            0.100,
            0.100,
            0.080,
            0.256,
            0.020,
            0.020,
            0.010,
            0.010,
            0.002,
            0.012,
        ],
        [
            0.000,
            0.000,
            0.000,
            0.200,
            0.100,
            0.100,
            0.080,
            0.345,
            0.030,
            0.020,
            0.010,
            0.010,
            0.002,
            0.103,
        ],
    ]
)
ROUTE_W = ROUTE_W / ROUTE_W.sum(axis=1, keepdims=True)

# Reasons when a period ends on the 18th birthday
REC_AT_18 = np.array([REC["E17"], REC["E5"], REC["E6"], REC["E7"], REC["E8"]])
REC_AT_18_P = np.array([0.25, 0.42, 0.13, 0.03, 0.17])

# First placement by age band (<1, 1-4, 5-9, 10-15, 16-17)
FIRST_PLACE = {
    0: [
        ("U6", 50),
        ("U3", 12),
        ("U5", 10),
        ("R3", 6),
        ("P1", 4),
        ("U2", 2),
        ("U4", 4),
        ("R2", 1),
        ("Z1", 1),
    ],
    1: [("U6", 60), ("U3", 18), ("U5", 5), ("P1", 5), ("U4", 3), ("K2", 1), ("R1", 1), ("Z1", 1)],
    2: [("U6", 62), ("U3", 18), ("K2", 5), ("P1", 5), ("U4", 4), ("S1", 1), ("R2", 0.5), ("Z1", 1)],
    3: [
        ("U6", 50),
        ("U3", 12),
        ("K2", 20),
        ("K1", 1),
        ("S1", 2),
        ("P1", 3),
        ("R2", 1),
        ("Z1", 1),
        ("R5", 1),
        ("U4", 3),
    ],
    4: [
        ("U6", 30),
        ("U3", 8),
        ("K2", 17),
        ("H5", 30),
        ("P2", 4),
        ("K1", 1),
        ("R5", 2),
        ("Z1", 1),
        ("U4", 2),
    ],
}
MOVE_PLACE = {
    0: [("U6", 55), ("U3", 10), ("U5", 8), ("U4", 20), ("U1", 4), ("R3", 2), ("P1", 1)],
    1: [("U6", 50), ("U3", 10), ("U4", 28), ("U1", 6), ("P1", 3), ("K2", 2), ("Z1", 1)],
    2: [
        ("U6", 45),
        ("U3", 8),
        ("U4", 30),
        ("U1", 6),
        ("K2", 7),
        ("P1", 2),
        ("S1", 1.5),
        ("Z1", 0.5),
    ],
    3: [
        ("U6", 36),
        ("U3", 6),
        ("U4", 22),
        ("U1", 4),
        ("K2", 25),
        ("K1", 1.5),
        ("S1", 2.5),
        ("P1", 2),
        ("R2", 1),
        ("Z1", 0.5),
    ],
    4: [
        ("U6", 20),
        ("U3", 4),
        ("U4", 12),
        ("U1", 3),
        ("K2", 20),
        ("H5", 35),
        ("P2", 4),
        ("K1", 1),
        ("Z1", 1),
    ],
}
TEMP_PLACE = [("T4", 60), ("T3", 20), ("T1", 10), ("T0", 10)]

# long-term version of a placement after a same-carer change (RNE T/U)
LONG_TERM = {PL["U6"]: PL["U4"], PL["U3"]: PL["U1"], PL["U5"]: PL["U4"], PL["U2"]: PL["U1"]}

# --------------------------------------------------------------------------- OC3
IN_TOUCH = [
    ("YES", 0.875),
    ("NO", 0.04),
    ("REFU", 0.025),
    ("NREQ", 0.035),
    ("RHOM", 0.021),
    ("DIED", 0.004),
]
ACTIV_NEW = [
    ("F1", 4),
    ("P1", 2),
    ("F2", 14),
    ("P2", 4),
    ("F4", 3),
    ("P4", 1),
    ("F5", 17),
    ("P5", 10),
    ("G4", 10),
    ("G5", 25),
    ("G6", 7),
    ("0", 3),
]
ACCOM_SUITABLE = [
    ("U", 45),
    ("B", 15),
    ("Z", 9),
    ("D", 9),
    ("E", 5),
    ("K", 5),
    ("T", 4),
    ("C", 1),
    ("Y", 4),
]
ACCOM_UNSUITABLE = [
    ("S", 15),
    ("V", 15),
    ("W", 10),
    ("X", 20),
    ("U", 15),
    ("B", 10),
    ("Y", 10),
    ("K", 5),
]
EET_CODES = {"F1", "P1", "F2", "P2", "F4", "P4", "F5", "P5"}
EET_CODES_PRE2022 = EET_CODES | {"F3", "P3"}

# --------------------------------------------------------------------------- programmes
PROGRAMS = ["Family Support", "Edge of Care", "Youth Mentoring", "Parenting"]
PROGRAM_TOOLS = {
    # tool, domains, min score, max score, higher_is_better
    "Family Support": (
        "Family Star Plus",
        [
            "Physical health",
            "Well-being",
            "Meeting emotional needs",
            "Keeping children safe",
            "Boundaries and behaviour",
            "Home and money",
        ],
        1,
        10,
        True,
    ),
    "Edge of Care": (
        "NCFAS-G",
        [
            "Environment",
            "Parental capabilities",
            "Family interactions",
            "Family safety",
            "Child well-being",
        ],
        -3,
        2,
        True,
    ),
    "Youth Mentoring": (
        "SDQ",
        ["Emotional symptoms", "Conduct problems", "Hyperactivity", "Peer problems"],
        0,
        10,
        False,
    ),
    "Parenting": ("PSOC", ["Satisfaction", "Efficacy"], 6, 36, True),
}
# The standard deviation of each tool's total score and its reliability, as a council would
# take them from the tool's manual: oba.yaml's assessment_tools for the reliable change
# criterion 1.96 * sd * sqrt(2 * (1 - reliability)) (program_reliable_improvement_pct).
TOOL_RELIABILITY = {
    "Family Star Plus": (4.0, 0.8),
    "NCFAS-G": (3.0, 0.75),
    "SDQ": (5.0, 0.8),
    "PSOC": (5.0, 0.8),
}
PROGRAM_SERVICES = {
    "Family Support": [
        ("Home visit", 50),
        ("Phone call", 25),
        ("Group session", 15),
        ("Family group conference", 10),
    ],
    "Edge of Care": [
        ("Home visit", 55),
        ("Crisis response", 15),
        ("Family therapy", 20),
        ("Phone call", 10),
    ],
    "Youth Mentoring": [("One-to-one", 70), ("Group activity", 20), ("Phone call", 10)],
    "Parenting": [("Group session", 70), ("Home visit", 20), ("Phone call", 10)],
}
EXIT_REASONS = np.array(
    ["Completed", "Disengaged", "Moved away", "Escalated to statutory services"], dtype=object
)


def table(pairs) -> tuple[np.ndarray, np.ndarray]:
    codes = np.array([c for c, _ in pairs], dtype=object)
    w = np.array([w for _, w in pairs], dtype=float)
    return codes, w / w.sum()


def draw(rng: np.random.Generator, p: np.ndarray, n: int) -> np.ndarray:
    """n draws of category indices with probabilities p (one shared distribution)."""
    cum = np.cumsum(p)
    cum[-1] = 1.0
    return np.searchsorted(cum, rng.random(n), side="right").astype(np.int64)


def draw_grouped(rng: np.random.Generator, P: np.ndarray, group: np.ndarray) -> np.ndarray:
    """Draw one category per row, with row i using distribution P[group[i]]."""
    cum = np.cumsum(P, axis=1)
    cum[:, -1] = 1.0
    u = rng.random(len(group))
    c = cum[group]
    return (u[:, None] >= c).sum(axis=1).astype(np.int64)


# --------------------------------------------------------------------------- journey
# Unaccompanied asylum-seeking children: mostly boys, ethnicity weights roughly those of
# UASC looked after in England.
UASC_ETHNIC = [("AOTH", 28), ("BAFR", 30), ("OOTH", 24), ("BOTH", 8), ("MOTH", 5), ("AIND", 5)]
# Reason for no SDQ score (SDQ1, child under 4 or over 16, never applies to a child the
# return expects a score for; DfE rule 157)
SDQ_REASON = [("SDQ2", 20), ("SDQ3", 15), ("SDQ4", 45), ("SDQ5", 20)]
# Adopters: number, sex and legal status consistent as DfE rules 511-524 require
SINGLE_ADOPTER = [("F1", 85), ("M1", 15)]
COUPLE_ADOPTERS = [("MF", 86), ("FF", 7), ("MM", 7)]
LS_ADOPTERS_MF = [("L11", 70), ("L3", 30)]
LS_ADOPTERS_SAME_SEX = [("L12", 40), ("L2", 30), ("L4", 30)]
MISSING_TYPE = [("M", 85), ("A", 15)]  # missing, away from placement without authorisation

# Breakdown groups of children looked after (DOMAIN.md §3b)
LEGAL_STATUS_GROUP = {
    "care order": ("C1", "C2"),
    "placement order": ("E1",),
    "accommodated under s20": ("V2",),
    "youth justice": ("J1", "J2", "J3"),
    "police protection/emergency": ("L1", "L2", "L3"),
}
PLACEMENT_TYPE_GROUP = {
    "foster with relatives/friends": ("U1", "U2", "U3"),
    "other foster": ("U4", "U5", "U6"),
    "placed for adoption": ("A3", "A4", "A5", "A6"),
    "placed with parents": ("P1",),
    "independent/semi-independent living": ("P2", "H5", "P3", "K1", "K3", "Z12", "Z13", "Z14"),
    "residential": ("K2", "R1", "R2", "R5", "S1", "Z11"),
}
OTHER_PLACEMENT = "secure/custody and other"
