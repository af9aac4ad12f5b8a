"""Cut the simulated histories into files exactly as a council would submit them."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pandas as pd

from . import codes as C
from ._dates import DateFormatter, collection_year, day
from .simulate import home_district, home_post, upn

EPISODE_COLS = [
    "CHILD",
    "DECOM",
    "RNE",
    "LS",
    "CIN",
    "PLACE",
    "PLACE_PROVIDER",
    "DEC",
    "REC",
    "REASON_PLACE_CHANGE",
    "HOME_POST",
    "PL_POST",
    "URN",
]
HEADER_COLS = ["CHILD", "SEX", "DOB", "ETHNIC", "UPN", "MOTHER", "MC_DOB"]
OC3_COLS = ["CHILD", "DOB", "IN_TOUCH", "ACTIV", "ACCOM"]
UASC_COLS = ["CHILD", "SEX", "DOB", "DUC"]
MISSING_COLS = ["CHILD", "DOB", "MISSING", "MIS_START", "MIS_END"]
OC2_COLS = [
    "CHILD",
    "DOB",
    "SDQ_SCORE",
    "SDQ_REASON",
    "CONVICTED",
    "HEALTH_CHECK",
    "IMMUNISATIONS",
    "TEETH_CHECK",
    "HEALTH_ASSESSMENT",
    "SUBSTANCE_MISUSE",
    "INTERVENTION_RECEIVED",
    "INTERVENTION_OFFERED",
]
AD1_COLS = [
    "CHILD",
    "DOB",
    "DATE_INT",
    "DATE_MATCH",
    "FOSTER_CARE",
    "NB_ADOPTR",
    "SEX_ADOPTR",
    "LS_ADOPTR",
]
PLACED_ADOPTION_COLS = [
    "CHILD",
    "DOB",
    "DATE_PLACED",
    "DATE_PLACED_CEASED",
    "REASON_PLACED_CEASED",
]
SSDA903_FILES = (
    "header.csv",
    "episodes.csv",
    "oc3.csv",
    "uasc.csv",
    "missing.csv",
    "oc2.csv",
    "ad1.csv",
    "placed_adoption.csv",
)


def year_label(y: int) -> str:
    return f"{y - 1}-{y % 100:02d}"


def _str_ids(ids: np.ndarray) -> np.ndarray:
    return ids.astype(str).astype(object)


def _sex_903(sx: np.ndarray, y: int) -> np.ndarray:
    """SSDA903 SEX: 1/2 until 2023-24, M/F/U from 2024-25."""
    if y <= 2024:
        return np.where(sx == 2, "2", "1").astype(object)
    return np.select([sx == 1, sx == 2], ["M", "F"], "U").astype(object)


# ============================================================================ SSDA903
def _frame(data: dict, columns=None) -> pd.DataFrame:
    """Object-dtype frame (plain Python strings write fastest and exactly as given)."""
    return pd.DataFrame(data, columns=columns, dtype=object)


class _Appender:
    """CSV files written chunk by chunk: header row once, then rows appended."""

    def __init__(self) -> None:
        self._fh: dict[Path, object] = {}

    def append(self, path: Path, df: pd.DataFrame, only_with_rows: bool = False) -> None:
        """Append ``df`` to ``path``; with ``only_with_rows`` the file is not started until
        there are rows (a return leaves out a table it has nothing for)."""
        fh = self._fh.get(path)
        if fh is None and only_with_rows and not len(df):
            return
        if fh is None:
            path.parent.mkdir(parents=True, exist_ok=True)
            fh = open(path, "w", encoding="utf-8", newline="")
            fh.write(",".join(df.columns) + "\n")
            self._fh[path] = fh
        if len(df):
            df.to_csv(fh, index=False, header=False, lineterminator="\n")

    def close(self) -> None:
        for fh in self._fh.values():
            fh.close()
        self._fh.clear()


class Ssda903Writer:
    def __init__(self, out: Path, cfg) -> None:
        self.out, self.cfg = out, cfg
        self.csv = _Appender()
        self.stats = {f"{name[:-4]}_rows": 0 for name in SSDA903_FILES if name != "episodes.csv"}
        self.stats["episode_rows"] = 0
        self._files = [f"ssda903/{year_label(y)}/{f}" for y in cfg.years for f in SSDA903_FILES]

    @property
    def files(self) -> list[str]:
        """Files written: every return has header, episodes and OC3; the other tables
        only in the years they have rows."""
        return [f for f in self._files if (self.out / f).is_file()]

    def close(self) -> None:
        self.csv.close()

    def write_chunk(self, h, fmt: DateFormatter, mothers: dict, errors: dict | None = None) -> None:
        """Write the returns of the histories ``h``; ``errors`` (:func:`.variants.choose`)
        leaves episodes out of later returns and closes some early in one return."""
        cfg, ch, e, o = h.cfg, h.children, h.episodes, h.oc3
        n_eps = len(e["child"])
        if errors is None:
            errors = {
                "last_return": np.full(n_eps, np.iinfo(np.int64).max),
                "early_year": np.zeros(n_eps, np.int64),
                "early_dec": np.zeros(n_eps, np.int64),
                "late_year": np.zeros(n_eps, np.int64),
                "late_decom": np.zeros(n_eps, np.int64),
            }
        child_id = ch["child_id"]
        rpc_codes = np.r_[C.RPC_CODES, np.array([""], dtype=object)]
        provider_codes = np.r_[C.PROVIDER_CODES, np.array([""], dtype=object)]
        short_break = np.isin(e["ls"], [C.LS["V3"], C.LS["V4"]])
        for y in cfg.years:
            ys, ye = day(dt.date(y - 1, 4, 1)), day(dt.date(y, 3, 31))
            m = (e["decom"] <= ye) & (e["dec"] >= ys) & (errors["last_return"] >= y)
            i = np.flatnonzero(m)
            c = e["child"][i]
            order = np.lexsort((e["decom"][i], child_id[c]))
            i, c = i[order], c[order]
            dec = np.where(errors["early_year"][i] == y, errors["early_dec"][i], e["dec"][i])
            closed = dec <= ye
            decom = np.where(errors["late_year"][i] == y, errors["late_decom"][i], e["decom"][i])
            rec = np.where(closed, C.REC_CODES[np.maximum(e["rec"][i], 0)], "")
            rpc = np.where(closed, rpc_codes[e["rpc"][i]], "")
            eps = _frame(
                {
                    "CHILD": _str_ids(child_id[c]),
                    "DECOM": fmt.uk(decom),
                    "RNE": C.RNE_CODES[e["rne"][i]],
                    "LS": C.LS_CODES[e["ls"][i]],
                    "CIN": C.NEED_CODES[e["need"][i]],
                    "PLACE": C.PLACE_CODES[e["place"][i]],
                    "PLACE_PROVIDER": provider_codes[e["provider"][i]],
                    "DEC": fmt.uk(dec, missing=~closed),
                    "REC": rec,
                    "REASON_PLACE_CHANGE": rpc,
                    "HOME_POST": np.where(short_break[i], "", home_post(ch, c)).astype(object),
                    "PL_POST": e["pl_post"][i],
                    "URN": e["urn"][i],
                },
                columns=EPISODE_COLS,
            )
            folder = self.out / "ssda903" / year_label(y)
            self.csv.append(folder / "episodes.csv", eps)

            om = np.flatnonzero(o["year"] == y)
            om = om[np.argsort(child_id[o["child"][om]], kind="stable")]
            oc = o["child"][om]
            oc3 = _frame(
                {
                    "CHILD": _str_ids(child_id[oc]),
                    "DOB": fmt.uk(ch["dob"][oc]),
                    "IN_TOUCH": o["in_touch"][om],
                    "ACTIV": o["activ"][om],
                    "ACCOM": o["accom"][om],
                },
                columns=OC3_COLS,
            )
            self.csv.append(folder / "oc3.csv", oc3)

            kids = np.unique(np.concatenate([c, oc]))
            kids = kids[np.argsort(child_id[kids], kind="stable")]
            sx = ch["sex"][kids]
            sex = _sex_903(sx, y)
            # MOTHER (0/1) is recorded for every girl looked after in the year other than
            # on short breaks only, and for nobody else (DfE rules 165, 393, 607, 628)
            in_care = np.isin(kids, c[~short_break[i]])
            female = (sx == 2) & in_care
            # a mother (1) once her child is born while she is looked after (rule 625)
            care_end = np.zeros(len(ch["dob"]), dtype=np.int64)
            cared = ~short_break[i]
            np.maximum.at(care_end, c[cared], np.minimum(dec[cared], ye))
            mc = mothers["mc_dob"][kids]
            is_mother = female & (mc > 0) & (mc <= care_end[kids])
            head = _frame(
                {
                    "CHILD": _str_ids(child_id[kids]),
                    "SEX": sex.astype(object),
                    "DOB": fmt.uk(ch["dob"][kids]),
                    "ETHNIC": C.ETHNIC_CODES[ch["ethnic"][kids]],
                    "UPN": upn(ch, kids),
                    "MOTHER": np.where(is_mother, "1", np.where(female, "0", "")).astype(object),
                    "MC_DOB": fmt.uk(mc, missing=~is_mother),
                },
                columns=HEADER_COLS,
            )
            self.csv.append(folder / "header.csv", head)
            self.stats["episode_rows"] += len(eps)
            self.stats["header_rows"] += len(head)
            self.stats["oc3_rows"] += len(oc3)
            in_year = np.unique(c[~short_break[i]])
            for name, table in self._journey_tables(h, fmt, y, in_year).items():
                self.csv.append(folder / name, table, only_with_rows=True)
                self.stats[f"{name[:-4]}_rows"] += len(table)

    def _journey_tables(self, h, fmt: DateFormatter, y: int, in_care: np.ndarray) -> dict:
        """UASC, Missing, OC2, AD1 and PlacedAdoption of the return for year ``y``, given
        the children looked after in the year (``in_care``, indexes)."""
        ch, ms, oc2, ad = h.children, h.missing, h.oc2, h.adoptions
        child_id, dob = ch["child_id"], ch["dob"]
        ys, ye = day(dt.date(y - 1, 4, 1)), day(dt.date(y, 3, 31))

        def by_child(rows, kids, *dates):
            o = np.lexsort((*dates[::-1], child_id[kids]))
            return rows[o], kids[o]

        u = in_care[ch["uasc"][in_care]]
        u = u[np.argsort(child_id[u], kind="stable")]
        uasc = {
            "CHILD": _str_ids(child_id[u]),
            "SEX": _sex_903(ch["sex"][u], y),
            "DOB": fmt.uk(dob[u]),
            "DUC": fmt.uk(ch["b18"][u]),  # UASC status ceases at 18
        }
        r = np.flatnonzero((ms["start"] >= ys) & (ms["start"] <= ye))
        r, k = by_child(r, ms["child"][r], ms["start"][r])
        missing = {
            "CHILD": _str_ids(child_id[k]),
            "DOB": fmt.uk(dob[k]),
            "MISSING": ms["type"][r].astype(object),
            "MIS_START": fmt.uk(ms["start"][r]),
            "MIS_END": fmt.uk(ms["end"][r]),
        }
        r = np.flatnonzero(oc2["year"] == y)
        r, k = by_child(r, oc2["child"][r])
        health = {col: oc2[col.lower()][r] for col in OC2_COLS[2:]}
        outcomes = {"CHILD": _str_ids(child_id[k]), "DOB": fmt.uk(dob[k]), **health}
        # a decision to place for adoption is reported while its period of care lasts
        r = np.flatnonzero(
            (ad["decision"] <= ye) & (ad["period_end"] >= ys) & (ad["period_start"] <= ye)
        )
        r, k = by_child(r, ad["child"][r], ad["decision"][r])
        blank = np.full(len(r), "", dtype=object)
        placed = {
            "CHILD": _str_ids(child_id[k]),
            "DOB": fmt.uk(dob[k]),
            "DATE_PLACED": fmt.uk(ad["decision"][r]),
            "DATE_PLACED_CEASED": blank,
            "REASON_PLACED_CEASED": blank,
        }
        r = np.flatnonzero(ad["adopted"] & (ad["adoption"] >= ys) & (ad["adoption"] <= ye))
        r, k = by_child(r, ad["child"][r])
        adopted = {
            "CHILD": _str_ids(child_id[k]),
            "DOB": fmt.uk(dob[k]),
            "DATE_INT": fmt.uk(ad["decision"][r]),
            "DATE_MATCH": fmt.uk(ad["match"][r]),
            "FOSTER_CARE": ad["foster_care"][r],
            "NB_ADOPTR": ad["nb_adopters"][r],
            "SEX_ADOPTR": ad["sex_adopters"][r],
            "LS_ADOPTR": ad["ls_adopters"][r],
        }
        return {
            "uasc.csv": _frame(uasc, columns=UASC_COLS),
            "missing.csv": _frame(missing, columns=MISSING_COLS),
            "oc2.csv": _frame(outcomes, columns=OC2_COLS),
            "ad1.csv": _frame(adopted, columns=AD1_COLS),
            "placed_adoption.csv": _frame(placed, columns=PLACED_ADOPTION_COLS),
        }


def mothers_of(h, rng) -> dict:
    """A few girls in care are mothers (MOTHER = 1 and MC_DOB from their child's birth)."""
    ch, e = h.children, h.episodes
    N = len(ch["dob"])
    care = ~np.isin(e["ls"], [C.LS["V3"], C.LS["V4"]])
    girls = np.unique(
        e["child"][care & (ch["sex"][e["child"]] == 2) & (e["dec"] > ch["b16"][e["child"]])]
    )
    pick = girls[rng.random(len(girls)) < 0.04]
    mc = np.zeros(N, dtype=np.int64)
    mc[pick] = ch["b16"][pick] - 200 + rng.integers(0, 600, len(pick))
    return {"mc_dob": mc}


# ============================================================================ CIN census
class CinWriter:
    """One XML file per collection year, streamed chunk by chunk."""

    def __init__(self, out: Path, cfg) -> None:
        self.cfg = cfg
        folder = out / "cin"
        folder.mkdir(parents=True, exist_ok=True)
        self.files = [f"cin/CIN_Census_{y}.xml" for y in cfg.years]
        self._fh = {}
        for y in cfg.years:
            fh = open(folder / f"CIN_Census_{y}.xml", "w", encoding="utf-8", newline="\n")
            fh.write(_cin_header(cfg, y))
            self._fh[y] = fh
        self.stats = {"cin_child_rows": 0}

    def close(self) -> None:
        for fh in self._fh.values():
            fh.write("  </Children>\n</Message>\n")
            fh.close()
        self._fh.clear()

    def write_chunk(self, h, fmt: DateFormatter, extras: dict) -> None:
        ch, cin, cp = h.children, h.cin, h.cp
        child_id = ch["child_id"]
        p_order = np.lexsort((cp["start"], cp["cin_id"]))
        p_cin = cp["cin_id"][p_order]
        for y in self.cfg.years:
            ys, ye = day(dt.date(y - 1, 4, 1)), day(dt.date(y, 3, 31))
            i = np.flatnonzero((cin["ref"] <= ye) & (cin["close"] >= ys))
            c = cin["child"][i]
            order = np.lexsort((cin["ref"][i], child_id[c]))
            i, c = i[order], c[order]
            ep_head, plan_xml, plan_ep = _cin_details(
                cin, cp, p_order, p_cin, i, ys, ye, fmt, extras
            )
            kids, first = np.unique(c, return_index=True)
            korder = np.argsort(first)
            kids = kids[korder]
            n_k, n_e, n_p = len(kids), len(i), len(plan_xml)
            sx = ch["sex"][kids]
            if y <= 2023:
                sex_tag, sex = "GenderCurrent", np.where(sx == 2, "2", "1")
            elif y == 2024:
                sex_tag, sex = "Sex", np.where(sx == 2, "2", "1")
            else:
                sex_tag, sex = "Sex", np.select([sx == 1, sx == 2], ["M", "F"], "U")
            tmpl = (
                "    <Child>\n      <ChildIdentifiers>\n"
                "        <LAchildID>%s</LAchildID>\n        <UPN>%s</UPN>\n"
                "        <PersonBirthDate>%s</PersonBirthDate>\n"
                f"        <{sex_tag}>%s</{sex_tag}>\n"
                "      </ChildIdentifiers>\n      <ChildCharacteristics>\n"
                "        <Ethnicity>%s</Ethnicity>\n"
                "        <Disabilities>\n%s        </Disabilities>\n"
                "      </ChildCharacteristics>\n"
            )
            heads = _fill(
                tmpl,
                [
                    _str_ids(child_id[kids]),
                    upn(ch, kids),
                    fmt.iso(ch["dob"][kids]),
                    sex,
                    C.ETHNIC_CODES[ch["ethnic"][kids]],
                    _disabilities(extras, kids),
                ],
            )
            # the document is a flat sequence of pieces: child head, then per CIN episode
            # its head, its plans and its closing tag, then the child's closing tag
            kid_pos = np.searchsorted(kids[np.argsort(kids)], c)
            c_rank = np.argsort(kids)[kid_pos]  # rank of each episode's child
            e_rank = np.arange(n_e)
            keys_child = np.concatenate(
                [c_rank, c_rank, c_rank[plan_ep], c_rank, np.arange(n_k), np.arange(n_k)]
            )
            keys_ep = np.concatenate(
                [e_rank, e_rank, plan_ep, e_rank, np.full(n_k, -1), np.full(n_k, n_e)]
            )
            keys_kind = np.concatenate(
                [
                    np.zeros(n_e),
                    np.zeros(n_e),
                    np.ones(n_p),
                    np.full(n_e, 2),
                    np.zeros(n_k),
                    np.zeros(n_k),
                ]
            )
            pieces = np.concatenate(
                [
                    np.full(n_e, "", dtype=object),
                    ep_head,
                    plan_xml,
                    np.full(n_e, "      </CINdetails>\n", dtype=object),
                    heads,
                    np.full(n_k, "    </Child>\n", dtype=object),
                ]
            )
            keys_plan = np.arange(len(pieces))  # plans of an episode keep their order
            pieces = pieces[np.lexsort((keys_plan, keys_kind, keys_ep, keys_child))]
            f = self._fh[y]
            step = 100_000
            for k in range(0, len(pieces), step):
                f.write("".join(pieces[k : k + step].tolist()))
            self.stats["cin_child_rows"] += n_k


def _fill(template: str, columns: list) -> np.ndarray:
    """``template % row`` for every row of the given columns (object array)."""
    cols = [np.asarray(col).tolist() for col in columns]
    return np.array([template % row for row in zip(*cols, strict=True)], dtype=object)


def _opt(mask: np.ndarray, values) -> np.ndarray:
    return np.where(mask, values, "").astype(object)


def _group_concat(strings: np.ndarray, first: np.ndarray, count: np.ndarray) -> np.ndarray:
    """Concatenate the runs ``strings[first[j]:first[j] + count[j]]`` ('' for empty runs)."""
    out = np.full(len(first), "", dtype=object)
    has = count > 0
    if not has.any():
        return out
    f, c = first[has], count[has]
    starts = np.cumsum(c) - c
    idx = np.repeat(f - starts, c) + np.arange(c.sum())
    out[has] = np.add.reduceat(strings[idx], starts)
    return out


def _cin_header(cfg, y: int) -> str:
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n<Message>\n  <Header>\n'
        "    <CollectionDetails>\n      <Collection>CIN</Collection>\n"
        f"      <Year>{y}</Year>\n      <ReferenceDate>{y}-03-31</ReferenceDate>\n"
        "    </CollectionDetails>\n    <Source>\n      <SourceLevel>L</SourceLevel>\n"
        f"      <LEA>{cfg.la_number}</LEA>\n      <SoftwareCode>turn-the-curve synth</SoftwareCode>\n"
        "      <Release>1.0</Release>\n      <SerialNo>001</SerialNo>\n"
        f"      <DateTime>{y}-05-20T09:00:00</DateTime>\n    </Source>\n  </Header>\n"
        "  <Children>\n"
    )


_T_REF = (
    "      <CINdetails>\n        <CINreferralDate>%s</CINreferralDate>\n"
    "        <ReferralSource>%s</ReferralSource>\n"
    "        <PrimaryNeedCode>%s</PrimaryNeedCode>\n"
)
_T_CLOSE = (
    "        <CINclosureDate>%s</CINclosureDate>\n        <ReasonForClosure>%s</ReasonForClosure>\n"
)
_T_ICPC = "        <DateOfInitialCPC>%s</DateOfInitialCPC>\n"
_T_NFA = "        <ReferralNFA>%s</ReferralNFA>\n"
_T_ASSESS = (
    "        <Assessments>\n          <AssessmentActualStartDate>%s</AssessmentActualStartDate>\n"
)
_T_AUTH = (
    "          <AssessmentAuthorisationDate>%s</AssessmentAuthorisationDate>\n"
    "          <FactorsIdentifiedAtAssessment>\n%s"
    "          </FactorsIdentifiedAtAssessment>\n"
)
_T_ASSESS_END = "        </Assessments>\n"
_T_S47 = (
    "        <Section47>\n          <S47ActualStartDate>%s</S47ActualStartDate>\n"
    "          <InitialCPCtarget>%s</InitialCPCtarget>\n"
)
_T_S47_ICPC = "          <DateOfInitialCPC>%s</DateOfInitialCPC>\n"
_T_S47_END = "          <ICPCnotRequired>%s</ICPCnotRequired>\n        </Section47>\n"


def _cin_details(cin, cp, p_order, p_cin, i, ys, ye, fmt, extras):
    """For CIN episodes ``i`` as known at the year end ``ye``: the opening part of each
    <CINdetails> (everything before its plans), the <ChildProtectionPlans> strings of
    the plans open during the year and, for each plan, its position in ``i``."""
    n = len(i)
    ref = cin["ref"][i]
    close = cin["close"][i]
    closed = close <= ye
    a_start, a_auth = cin["a_start"][i], cin["a_auth"][i]
    has_a = cin["has_assessment"][i] & (a_start <= ye)
    has_auth = has_a & (a_auth <= ye)
    s47, icpc = cin["s47"][i], cin["icpc"][i]
    has_s47 = cin["has_s47"][i] & (s47 <= ye)
    has_icpc = has_s47 & cin["has_icpc"][i] & (icpc <= ye)
    lo = np.searchsorted(p_cin, cin["cin_id"][i], "left")
    hi = np.searchsorted(p_cin, cin["cin_id"][i], "right")
    pstart = cp["start"][p_order]
    pend = cp["end"][p_order]
    cols = {
        "ref": fmt.iso(ref),
        "src": C.SOURCE_CODES[cin["source"][i]],
        "need": C.NEED_CODES[cin["need"][i]],
        "close": fmt.iso(np.minimum(close, ye)),
        "rc": C.RC[cin["rc"][i]],
        "icpc": fmt.iso(np.minimum(icpc, ye)),
        "nfa": np.where(cin["nfa"][i], "true", "false"),
        "a_start": fmt.iso(np.minimum(a_start, ye)),
        "a_auth": fmt.iso(np.minimum(a_auth, ye)),
        "s47": fmt.iso(np.minimum(s47, ye)),
        "s47_t": fmt.iso(np.minimum(s47, ye) + 21),
        "not_required": np.where(cin["icpc_not_required"][i], "true", "false"),
    }
    head = np.empty(n, dtype=object)
    shape = closed * 1 + has_icpc * 2 + has_a * 4 + has_auth * 8 + has_s47 * 16
    for sh in np.unique(shape).tolist():
        m = shape == sh
        t, names = _T_REF, ["ref", "src", "need"]
        if sh & 1:
            t += _T_CLOSE
            names += ["close", "rc"]
        if sh & 2:
            t += _T_ICPC
            names += ["icpc"]
        t += _T_NFA
        names += ["nfa"]
        extra_cols = []
        if sh & 4:
            t += _T_ASSESS
            names += ["a_start"]
            if sh & 8:
                t += _T_AUTH
                names += ["a_auth"]
                extra_cols = ["factors"]
            t += _T_ASSESS_END
        sel = [cols[k][m] for k in names]
        if extra_cols:
            sel.append(_factors(extras, i[m], collection_year(np.array([ye]))[0]))
        if sh & 16:
            t += _T_S47
            sel += [cols["s47"][m], cols["s47_t"][m]]
            if sh & 2:
                t += _T_S47_ICPC
                sel.append(cols["icpc"][m])
            t += _T_S47_END
            sel.append(cols["not_required"][m])
        head[m] = _fill(t, sel)
    # plans open during the year, and which episode (position in i) each belongs to
    plan_open = (pstart <= ye) & (pend >= ys)
    cnt = hi - lo
    pos = np.repeat(lo, cnt) + (np.arange(cnt.sum()) - np.repeat(np.cumsum(cnt) - cnt, cnt))
    ep_of = np.repeat(np.arange(n), cnt)
    keep = plan_open[pos]
    pos, ep_of = pos[keep], ep_of[keep]
    return head, _plan_xml(cp, p_order[pos], ye, fmt), ep_of


_T_PLAN = "        <ChildProtectionPlans>\n          <CPPstartDate>%s</CPPstartDate>\n"
_T_PLAN_END = "          <CPPendDate>%s</CPPendDate>\n"
_T_PLAN_CAT = (
    "          <InitialCategoryOfAbuse>%s</InitialCategoryOfAbuse>\n"
    "          <LatestCategoryOfAbuse>%s</LatestCategoryOfAbuse>\n"
    "          <NumberOfPreviousCPP>%s</NumberOfPreviousCPP>\n"
)
_T_PLAN_REV = "          <Reviews>\n%s          </Reviews>\n"
_T_PLAN_CLOSE = "        </ChildProtectionPlans>\n"


def _plan_xml(cp, sel, ye, fmt) -> np.ndarray:
    """<ChildProtectionPlans> strings for plans ``sel`` as known at the year end."""
    start = cp["start"][sel]
    end = cp["end"][sel]
    # reviews: three months after the start, then every six months, up to the year end
    last = np.minimum(end, ye + 1)
    n_rev = np.where(start + 91 < last, (last - 1 - (start + 91)) // 182 + 1, 0)
    rev_days = np.repeat(start + 91, n_rev) + 182 * (
        np.arange(n_rev.sum()) - np.repeat(np.cumsum(n_rev) - n_rev, n_rev)
    )
    rev_el = "            <CPPreviewDate>" + fmt.iso(rev_days) + "</CPPreviewDate>\n"
    reviews = _group_concat(rev_el, np.cumsum(n_rev) - n_rev, n_rev)
    cols = {
        "start": fmt.iso(start),
        "end": fmt.iso(np.minimum(end, ye)),
        "ini": C.ABUSE[cp["init_cat"][sel]],
        "lat": C.ABUSE[cp["latest_cat"][sel]],
        "npc": cp["npc"][sel].astype(str),
        "rev": reviews,
    }
    out = np.empty(len(sel), dtype=object)
    shape = (end <= ye) * 1 + (n_rev > 0) * 2
    for sh in np.unique(shape).tolist():
        m = shape == sh
        t, names = _T_PLAN, ["start"]
        if sh & 1:
            t += _T_PLAN_END
            names.append("end")
        t += _T_PLAN_CAT
        names += ["ini", "lat", "npc"]
        if sh & 2:
            t += _T_PLAN_REV
            names.append("rev")
        out[m] = _fill(t + _T_PLAN_CLOSE, [cols[k][m] for k in names])
    return out


def cin_extras(h, rng) -> dict:
    """Assessment factors and disabilities, fixed per episode/child (kept as small
    integers; the XML strings are built per year when written)."""
    cin, ch = h.cin, h.children
    n = len(cin["child"])
    N = len(ch["dob"])
    disabled = np.zeros(N, dtype=bool)
    disabled[cin["child"][cin["need"] == C.NEED_N2]] = True
    disabled |= rng.random(N) < 0.03
    nd = len(C.DISABILITY)
    return {
        "n_fac": rng.integers(1, 4, n).astype(np.int8),
        "fac": rng.integers(0, len(C.ASSESSMENT_FACTORS), (n, 3)).astype(np.int16),
        "disabled": disabled,
        "dis": rng.integers(0, nd, (N, 2)).astype(np.int8),
        "two_dis": rng.random(N) < 0.3,
    }


def _factor_xml(y: int) -> np.ndarray:
    """<AssessmentFactors> element of each factor as the census of year ``y`` codes it."""
    codes = [
        C.FACTOR_FROM[c][1] if c in C.FACTOR_FROM and y < C.FACTOR_FROM[c][0] else c
        for c in C.ASSESSMENT_FACTORS
    ]
    return np.array(
        [f"            <AssessmentFactors>{c}</AssessmentFactors>\n" for c in codes], dtype=object
    )


_DISABILITY_XML = np.array(
    [f"          <Disability>{c}</Disability>\n" for c in C.DISABILITY], dtype=object
)
_NO_DISABILITY = "          <Disability>NONE</Disability>\n"


def _factors(extras: dict, i: np.ndarray, y: int) -> np.ndarray:
    """1-3 distinct assessment factors per episode, coded for the census of year ``y``."""
    nf = extras["n_fac"][i]
    r = extras["fac"][i].astype(np.int64)
    k = len(C.ASSESSMENT_FACTORS)
    xml = _factor_xml(y)
    x1 = xml[r[:, 0] % k]
    x2 = xml[(r[:, 0] % k + 1 + r[:, 1] % 13) % k]
    x3 = xml[(r[:, 0] % k + 14 + r[:, 2] % 13) % k]
    # an older code standing for two newer ones is listed once
    return x1 + _opt((nf >= 2) & (x2 != x1), x2) + _opt((nf >= 3) & (x3 != x1) & (x3 != x2), x3)


def _disabilities(extras: dict, kids: np.ndarray) -> np.ndarray:
    dis = extras["dis"][kids].astype(np.int64)
    d1 = dis[:, 0]
    d2 = (d1 + 1 + dis[:, 1] % (len(C.DISABILITY) - 1)) % len(C.DISABILITY)
    listed = _DISABILITY_XML[d1] + _opt(extras["two_dis"][kids], _DISABILITY_XML[d2])
    return np.where(extras["disabled"][kids], listed, _NO_DISABILITY).astype(object)


# ============================================================================ case export
class CaseWriter:
    FILES = (
        "clients.csv",
        "enrolments.csv",
        "services.csv",
        "service_plans.csv",
        "assessments.csv",
    )

    def __init__(self, out: Path, cfg) -> None:
        self.folder = out / "case"
        self.cfg = cfg
        self.csv = _Appender()
        self.files = [f"case/{f}" for f in self.FILES]
        self.n = {
            "clients": 0,
            "enrolments": 0,
            "services": 0,
            "service_plans": 0,
            "assessments": 0,
            "assessment_rows": 0,
        }

    def close(self) -> None:
        self.csv.close()

    def write_chunk(self, h, cases: dict, fmt: DateFormatter) -> None:
        ch = h.children
        T1 = day(self.cfg.data_end)
        cl, en, sv, pl, asm = (
            cases[k] for k in ("clients", "enrolments", "services", "plans", "assessments")
        )
        n0 = self.n
        cid = np.array(
            [
                f"CL{k + 100001:07d}"
                for k in range(n0["clients"], n0["clients"] + len(cl["client"]))
            ],
            dtype=object,
        )
        kids = cl["child"]
        sx = ch["sex"][kids]
        self.csv.append(
            self.folder / "clients.csv",
            _frame(
                {
                    "client_id": cid[cl["client"]],
                    "date_of_birth": fmt.iso(ch["dob"][kids]),
                    "sex": np.select([sx == 1, sx == 2], ["M", "F"], "U").astype(object),
                    "ethnicity": C.ETHNIC_CODES[ch["ethnic"][kids]],
                    "postcode_district": home_district(ch, kids),
                    "intake_date": fmt.iso(cl["intake"]),
                }
            ),
        )
        eid = np.array(
            [
                f"EN{k + 1:07d}"
                for k in range(n0["enrolments"], n0["enrolments"] + len(en["enrolment_id"]))
            ],
            dtype=object,
        )
        known = en["end_known"]
        self.csv.append(
            self.folder / "enrolments.csv",
            _frame(
                {
                    "enrolment_id": eid[en["enrolment_id"]],
                    "client_id": cid[en["client"]],
                    "program": en["program"],
                    "start_date": fmt.iso(en["start"]),
                    "end_date": fmt.iso(np.minimum(en["end"], T1), missing=~known),
                    "exit_reason": np.where(known, C.EXIT_REASONS[en["exit"]], "").astype(object),
                }
            ),
        )
        order = np.lexsort((sv["date"], sv["enrolment_id"]))
        self.csv.append(
            self.folder / "services.csv",
            _frame(
                {
                    "service_id": np.array(
                        [
                            f"SV{k + 1:08d}"
                            for k in range(n0["services"], n0["services"] + len(order))
                        ],
                        dtype=object,
                    ),
                    "enrolment_id": eid[sv["enrolment_id"][order]],
                    "service_date": fmt.iso(sv["date"][order]),
                    "service_type": sv["type"][order],
                    "minutes": sv["minutes"][order],
                }
            ),
        )
        self.csv.append(
            self.folder / "service_plans.csv",
            _frame(
                {
                    "plan_id": np.array(
                        [
                            f"PL{k + 1:07d}"
                            for k in range(
                                n0["service_plans"], n0["service_plans"] + len(pl["date"])
                            )
                        ],
                        dtype=object,
                    ),
                    "enrolment_id": eid[pl["enrolment_id"]],
                    "plan_date": fmt.iso(pl["date"]),
                }
            ),
        )
        n_occ = int(asm["assessment_id"].max()) + 1 if len(asm["assessment_id"]) else 0
        aid = np.array(
            [f"AS{k + 1:07d}" for k in range(n0["assessments"], n0["assessments"] + n_occ)],
            dtype=object,
        )
        self.csv.append(
            self.folder / "assessments.csv",
            _frame(
                {
                    "assessment_id": aid[asm["assessment_id"]],
                    "client_id": cid[asm["client"]],
                    "enrolment_id": eid[asm["enrolment_id"]],
                    "assessment_date": fmt.iso(asm["date"]),
                    "tool": asm["tool"],
                    "domain": asm["domain"],
                    "score": asm["score"],
                    "higher_is_better": np.where(asm["hib"], "true", "false").astype(object),
                }
            ),
        )
        n0["clients"] += len(cid)
        n0["enrolments"] += len(eid)
        n0["services"] += len(order)
        n0["service_plans"] += len(pl["date"])
        n0["assessments"] += n_occ
        n0["assessment_rows"] += len(asm["score"])


# ============================================================================ population
def population_table(cfg, cla_at_anchor: int, rng) -> pd.DataFrame:
    """ONS-style mid-year estimates, ages 0-17, sized so that the CLA rate at the anchor
    date is ``cla_rate_anchor`` per 10,000 and growing slowly."""
    anchor_year = cfg.anchor_date.year if cfg.anchor_date.month >= 4 else cfg.anchor_date.year - 1
    total_anchor = max(1000.0, cla_at_anchor * 10000.0 / cfg.cla_rate_anchor)
    years = list(range(cfg.sim_start.year, cfg.last_year))
    shape = np.array(
        [
            0.96,
            0.98,
            1.0,
            1.02,
            1.03,
            1.04,
            1.05,
            1.05,
            1.05,
            1.04,
            1.03,
            1.02,
            1.01,
            1.0,
            0.99,
            0.98,
            0.97,
            0.96,
        ]
    )
    rows = []
    for y in years:
        total = int(round(total_anchor * (1 + cfg.population_growth) ** (y - anchor_year)))
        w = shape * (1 + 0.01 * rng.standard_normal(18))
        raw = total * w / w.sum()
        base = np.floor(raw).astype(np.int64)
        rem = total - base.sum()
        base[np.argsort(-(raw - base), kind="stable")[:rem]] += 1
        for age in range(18):
            rows.append((cfg.area_code, y, age, int(base[age])))
    return pd.DataFrame(rows, columns=["area_code", "year", "age", "population"])


# ============================================================================ config, stories
def _q(s: str) -> str:
    return json.dumps(s, ensure_ascii=False)


def write_oba_yaml(cfg, out: Path, comparators: dict | None = None) -> str:
    text = (
        "# Synthetic authority written by `oba synth` (no real children).\n"
        f"authority: {{name: {_q(cfg.authority_name)}, code: {cfg.area_code}}}\n"
        "headline_measures: [cla_rate_per_10k, cla_starts_12m, cpp_rate_per_10k, "
        "placement_stability_3plus_pct, care_leavers_suitable_accommodation_pct, "
        "care_leavers_eet_pct]\n"
    )
    text += "assessment_tools:\n" + "".join(
        f"  {_q(tool)}: {{sd: {sd}, reliability: {r}}}\n" for tool, (sd, r) in C.TOOL_RELIABILITY.items()
    )
    if comparators:
        text += (
            f"comparators: {{region: {comparators['region']}, "
            f"neighbours: [{', '.join(comparators['neighbours'])}]}}\n"
        )
    (out / "oba.yaml").write_text(text, encoding="utf-8")
    return "oba.yaml"


def _story_yaml(measure, baseline_end, target, story, partners, what_works, actions) -> str:
    lines = [f"measure: {measure}"]
    if baseline_end:
        lines.append(f"baseline_end: {baseline_end}")
    if target is not None:
        lines.append(f"target: {target}")
    lines.append("story:")
    for d, title, force, text in story:
        lines.append(f"  - {{date: {d}, title: {_q(title)}, force: {force}, text: {_q(text)}}}")
    lines.append("partners: [" + ", ".join(_q(p) for p in partners) + "]")
    lines.append("what_works:")
    lines += [f"  - {_q(w)}" for w in what_works]
    lines.append("actions:")
    for a, owner, due, status in actions:
        lines.append(
            f"  - {{action: {_q(a)}, owner: {_q(owner)}, due: {due}, status: {_q(status)}}}"
        )
    return "\n".join(lines) + "\n"


def write_stories(cfg, out: Path) -> list[str]:
    iv = cfg.intervention_date
    base_end = (iv - dt.timedelta(days=1)).isoformat()
    folder = out / "stories"
    folder.mkdir(parents=True, exist_ok=True)
    files = {
        "cla_rate_per_10k.yml": _story_yaml(
            "cla_rate_per_10k",
            base_end,
            65,
            [
                (
                    "2017-09-30",
                    "Rising neglect referrals",
                    "negative",
                    "Referrals for neglect rose after the local economy lost two large employers; "
                    "more families reached crisis before help arrived.",
                ),
                (
                    "2020-03-31",
                    "COVID-19 lockdowns",
                    "negative",
                    "Schools and health visitors saw fewer children, so harm came to light later "
                    "and more children entered care in an emergency.",
                ),
                (
                    "2022-11-30",
                    "Court delays",
                    "negative",
                    "Care proceedings took longer to conclude, so children stayed looked after "
                    "for longer before returning home or being placed with family.",
                ),
                (
                    "2023-06-30",
                    "Family group conferencing pilot",
                    "positive",
                    "A pilot offered a family group conference before proceedings in two localities; "
                    "more children stayed safely with relatives.",
                ),
                (
                    iv.isoformat(),
                    cfg.intervention_title,
                    "positive",
                    "An edge-of-care team now works intensively with families of children at risk "
                    "of entering care, within 48 hours of a referral.",
                ),
            ],
            ["Police", "Schools", "Health visitors", "Family courts", "Voluntary sector"],
            [
                "Family group conferencing before proceedings",
                "Intensive edge-of-care support within 48 hours",
                "Kinship carers supported as early as foster carers (low cost)",
            ],
            [
                (
                    "Extend family group conferencing to all section 47 cases",
                    "Head of Service",
                    "2025-06-30",
                    "complete",
                ),
                (
                    "Recruit two more edge-of-care practitioners",
                    "Service Manager, Edge of Care",
                    "2025-12-31",
                    "on track",
                ),
                (
                    "Review every child looked after under section 20 for a plan home",
                    "Independent Reviewing Service",
                    "2026-06-30",
                    "at risk",
                ),
            ],
        ),
        "cpp_rate_per_10k.yml": _story_yaml(
            "cpp_rate_per_10k",
            None,
            40,
            [
                (
                    "2019-04-30",
                    "Neglect toolkit adopted",
                    "positive",
                    "Practitioners use a shared neglect toolkit, so concerns are spotted and "
                    "addressed before a plan is needed.",
                ),
                (
                    "2021-09-30",
                    "Domestic abuse notifications up",
                    "negative",
                    "Police notifications of domestic abuse rose after the pandemic, and more "
                    "strategy discussions led to conferences.",
                ),
                (
                    "2023-01-31",
                    "Repeat plans audit",
                    "positive",
                    "An audit of second and later plans led to stronger step-down support when a "
                    "plan ends.",
                ),
            ],
            ["Police", "Schools", "Health visitors", "Domestic abuse services"],
            [
                "Step-down to early help with a named lead professional",
                "Multi-agency neglect toolkit",
            ],
            [
                (
                    "Offer step-down support at every plan closure",
                    "Head of Safeguarding",
                    "2025-09-30",
                    "on track",
                ),
                (
                    "Quarterly review of plans open over 18 months",
                    "Child Protection Chairs",
                    "2025-03-31",
                    "complete",
                ),
            ],
        ),
        "care_leavers_suitable_accommodation_pct.yml": _story_yaml(
            "care_leavers_suitable_accommodation_pct",
            None,
            92,
            [
                (
                    "2018-03-31",
                    "Housing protocol signed",
                    "positive",
                    "The council's housing service and children's services agreed a joint protocol "
                    "giving care leavers priority for social housing.",
                ),
                (
                    "2021-03-31",
                    "Staying Close extended",
                    "positive",
                    "Young people leaving residential care can stay close to their home with support.",
                ),
                (
                    "2023-03-31",
                    "Shortage of supported lodgings",
                    "negative",
                    "Fewer supported lodgings hosts meant more emergency placements for 18-year-olds.",
                ),
            ],
            ["Housing", "Registered providers", "Supported lodgings hosts", "DWP"],
            ["Staying Put and Staying Close", "Care leaver priority for social housing"],
            [
                (
                    "Recruit 15 more supported lodgings hosts",
                    "Leaving Care Manager",
                    "2026-03-31",
                    "on track",
                )
            ],
        ),
    }
    names = []
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
        names.append(f"stories/{name}")
    return names
