"""Streaming readers for the XML exports: the SSDA903 return and the CIN census.

Both are read with lxml's ``iterparse`` one child element at a time and cleared as they go, so
memory stays flat whatever the file size. Each reader yields ``(source, row)`` pairs, where a
row maps contract column names to text and carries ``_row_number`` (the line of the element).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from lxml import etree

from pipelines.ingest.files import ExportError

SSDA903_HEADER = {"CHILDID": "CHILD", "CHILD": "CHILD", "SEX": "SEX", "DOB": "DOB", "ETHNIC": "ETHNIC",
                  "UPN": "UPN", "MOTHER": "MOTHER", "MC_DOB": "MC_DOB"}
SSDA903_OC3 = ("IN_TOUCH", "ACTIV", "ACCOM")
SSDA903_EPISODE = {"DECOM": "DECOM", "RNE": "RNE", "LS": "LS", "CIN": "CIN", "PL": "PLACE", "PLACE": "PLACE",
                   "PLACE_PROVIDER": "PLACE_PROVIDER", "DEC": "DEC", "REC": "REC",
                   "REASON_PLACE_CHANGE": "REASON_PLACE_CHANGE", "HOME_POST": "HOME_POST",
                   "PL_POST": "PL_POST", "URN": "URN"}
# SSDA903's other tables (DOMAIN.md §3b): field → table. In DfE's XML form each sits in HEADER,
# either as a group element (AREVIEW, AMISSING, OC2, PERMANENCE, AD_PLACED, ...: one row per
# group) or as plain fields of HEADER itself (AD1's, and DUC with the UASC flag: one row per
# child). A group is told by the fields it holds, not by its own name, so a social worker or
# DoLo group is read whatever the schema calls it.
SSDA903_TABLE_FIELDS = {
    "ssda903_uasc": ("DUC",),
    "ssda903_missing": ("MISSING", "MIS_START", "MIS_END"),
    "ssda903_reviews": ("REVIEW", "REVIEW_CODE"),
    "ssda903_oc2": ("SDQ_SCORE", "SDQ_REASON", "CONVICTED", "HEALTH_CHECK", "IMMUNISATIONS", "TEETH_CHECK",
                    "HEALTH_ASSESSMENT", "SUBSTANCE_MISUSE", "INTERVENTION_RECEIVED", "INTERVENTION_OFFERED"),
    "ssda903_ad1": ("DATE_INT", "DATE_MATCH", "FOSTER_CARE", "NB_ADOPTR", "SEX_ADOPTR", "LS_ADOPTR"),
    "ssda903_placed_adoption": ("DATE_PLACED", "DATE_PLACED_CEASED", "REASON_PLACED_CEASED"),
    "ssda903_prev_perm": ("PREV_PERM", "LA_PERM", "DATE_PERM"),
    "ssda903_sw_episodes": ("SW_ID", "SW_DECOM", "SW_DEC", "SW_REASON"),
    "ssda903_dolo": ("DOLO_START", "DOLO_END"),
}
SSDA903_FIELD_TABLE = {name: table for table, names in SSDA903_TABLE_FIELDS.items() for name in names}
# The UASC flag of HEADER: a child is in the UASC table when it is set (or DUC is given).
UASC_FLAG = "UASC"
_NOT_SET = {"", "0", "FALSE", "N", "NO"}


_LOCAL: dict = {}


SSDA903_RECORD = "{*}CHILD"  # <CHILD> of the SSDA903 XML, any namespace or none
CIN_RECORD = "{*}Child"  # <Child> of the CIN census


def _local(tag) -> str:
    """Local name of an element's tag (namespace dropped; '' for comments and PIs), memoised:
    a file has a handful of distinct tags and millions of elements."""
    try:
        return _LOCAL[tag]
    except KeyError:
        name = tag.split("}")[-1] if isinstance(tag, str) else ""
        if len(_LOCAL) < 10_000:
            _LOCAL[tag] = name
        return name
    except TypeError:  # an unhashable tag: never from lxml, but stay safe
        return ""


def _text(element) -> str | None:
    if element is None or element.text is None:
        return None
    text = element.text.strip()
    return text or None


def _children(element) -> dict[str, object]:
    return {_local(child.tag): child for child in element}


def _fields(element, wanted) -> dict[str, str | None]:
    """Text of the direct children of ``element`` whose local names are in ``wanted``
    (mapping local name → column); the last one wins, as with ``_children``."""
    row = {}
    local = _LOCAL.get
    for child in element:
        name = local(child.tag) or _local(child.tag)
        column = wanted.get(name)
        if column is not None:
            text = child.text
            if text is not None:
                text = text.strip() or None
            row[column] = text
    return row


def _iterparse(path: Path, tag: str, parent: str | None = None):
    """Elements ``tag`` (``{*}NAME``: any namespace) at their end, cleared once the caller is done.

    With ``parent``, only elements whose parent's local name is ``parent`` are yielded and
    cleared: an element of the same name nested inside one (``<CHILD><HEADER><CHILD>``, the
    child's id) is left whole for the caller to read."""
    try:
        for _, element in etree.iterparse(
            str(path), events=("end",), tag=tag, huge_tree=True, resolve_entities=False, no_network=True
        ):
            up = element.getparent()
            if parent is not None and (up is None or _local(up.tag) != parent):
                continue
            yield element
            element.clear(keep_tail=False)
            if up is not None:
                while element.getprevious() is not None:
                    del up[0]
    except etree.XMLSyntaxError as exc:
        raise ExportError(
            f"{path.name}: not well-formed XML at line {exc.lineno}: {exc.msg}; export the file again"
        ) from exc


def _other_tables(element, flat: dict, groups: list) -> bool:
    """File one element of HEADER (or CHILD) for SSDA903's other tables: a plain field into
    ``flat`` (table → row), a group into ``groups`` (table, row); False if it is neither."""
    if len(element):  # a group: AREVIEW, AMISSING, OC2, PERMANENCE, AD_PLACED, ...
        rows: dict[str, dict] = {}
        given: set[str] = set()  # tables of which the group gives a value (an empty group is no row)
        for field in element:
            name = _local(field.tag)
            table = SSDA903_FIELD_TABLE.get(name)
            if table is None:
                continue
            row = rows.get(table)
            if row is None:
                row = rows[table] = {"_row_number": element.sourceline}
            text = field.text
            if text is not None:
                text = text.strip() or None
                if text is not None:
                    given.add(table)
            row[name] = text
        groups.extend((table, row) for table, row in rows.items() if table in given)
        return bool(rows)
    name = _local(element.tag)
    if name == UASC_FLAG:
        flat.setdefault("ssda903_uasc", {})[UASC_FLAG] = _text(element)
        return True
    table = SSDA903_FIELD_TABLE.get(name)
    if table is None:
        return False
    flat.setdefault(table, {})[name] = _text(element)
    return True


def _flat_rows(flat: dict, row_number: int) -> list[tuple[str, dict]]:
    """The one-per-child rows of the plain HEADER fields: AD1 when any of its fields is given,
    UASC when the flag is set or DUC given."""
    rows = []
    for table, fields in flat.items():
        if table == "ssda903_uasc":
            flag = fields.pop(UASC_FLAG, None)
            if (flag or "").upper() in _NOT_SET and fields.get("DUC") is None:
                continue
        elif all(value is None for value in fields.values()):
            continue
        rows.append((table, {**fields, "_row_number": row_number}))
    return rows


def read_ssda903_xml(path: Path) -> Iterator[tuple[str, dict]]:
    """Rows of ssda903_header, ssda903_episodes, ssda903_oc3 and SSDA903's other tables
    (``SSDA903_TABLE_FIELDS``) from an ``<EXPSSDA903>`` file.

    The child's id is ``CHILDID`` or ``CHILD`` inside ``HEADER`` (``<CHILD><HEADER><CHILD>``),
    or a field of ``CHILD`` itself beside ``HEADER``; only the top-level ``CHILD`` elements are
    records. Every row of the other tables carries the child's CHILD and DOB (and SEX, for
    UASC), as the CSV form of each table does."""
    for child in _iterparse(path, SSDA903_RECORD, parent="EXPSSDA903"):  # any namespace, or none
        header_el = None
        episodes = []
        header = {"_row_number": child.sourceline}
        oc3 = {}
        flat: dict[str, dict] = {}
        groups: list[tuple[str, dict]] = []
        for element in child:
            name = _local(element.tag)
            if name == "HEADER":
                header_el = element
            elif name == "EPISODE":
                episodes.append(element)
            elif name in SSDA903_HEADER:  # header fields written directly under CHILD
                header[SSDA903_HEADER[name]] = _text(element)
            elif name in SSDA903_OC3:
                oc3[name] = _text(element)
            else:
                _other_tables(element, flat, groups)
        if header_el is not None:
            header["_row_number"] = header_el.sourceline
            for element in header_el:
                name = _local(element.tag)
                if name in SSDA903_HEADER:
                    header[SSDA903_HEADER[name]] = _text(element)
                elif name in SSDA903_OC3:
                    oc3[name] = _text(element)
                else:
                    _other_tables(element, flat, groups)
        child_id = header.get("CHILD")
        yield "ssda903_header", header
        if oc3:
            yield "ssda903_oc3", {"CHILD": child_id, "DOB": header.get("DOB"),
                                  "_row_number": header["_row_number"], **oc3}
        if flat or groups:
            keys = {"CHILD": child_id, "DOB": header.get("DOB")}
            for table, row in _flat_rows(flat, header["_row_number"]) + groups:
                if table == "ssda903_uasc":
                    row["SEX"] = header.get("SEX")
                yield table, {**keys, **row}
        for episode in episodes:
            row = {"CHILD": child_id, "_row_number": episode.sourceline}
            for element in episode:
                name = _local(element.tag)
                if name in SSDA903_EPISODE:
                    row[SSDA903_EPISODE[name]] = _text(element)
            yield "ssda903_episodes", row


def cin_reference_date(path: Path) -> str | None:
    """The census ReferenceDate from the message header (read without parsing the children)."""
    try:
        for _, element in etree.iterparse(str(path), events=("end",), tag=("{*}ReferenceDate", "{*}Children")):
            if _local(element.tag) == "ReferenceDate":
                return _text(element)
            return None
    except etree.XMLSyntaxError as exc:
        raise ExportError(
            f"{path.name}: not well-formed XML at line {exc.lineno}: {exc.msg}; export the file again"
        ) from exc
    return None


_CIN_IDENTIFIERS = {name: name for name in (
    "LAchildID", "UPN", "PersonBirthDate", "ExpectedPersonBirthDate", "GenderCurrent", "Sex", "PersonDeathDate",
)}
_CIN_CHARACTERISTICS = {"Ethnicity": "Ethnicity"}
_CIN_DETAILS = {name: name for name in (
    "CINreferralDate", "ReferralSource", "PrimaryNeedCode", "CINclosureDate", "ReasonForClosure", "ReferralNFA",
)}
_CIN_PLAN = {name: name for name in (
    "CPPstartDate", "CPPendDate", "InitialCategoryOfAbuse", "LatestCategoryOfAbuse", "NumberOfPreviousCPP",
)}
# The other modules of a CINdetails block (DOMAIN.md §3b): element → (source, its fields).
_CIN_MODULES = {
    "Assessments": ("cin_assessments", {name: name for name in (
        "AssessmentActualStartDate", "AssessmentInternalReviewDate", "AssessmentAuthorisationDate",
    )}),
    "CINPlanDates": ("cin_plan_dates", {name: name for name in ("CINPlanStartDate", "CINPlanEndDate")}),
    "Section47": ("cin_section47", {name: name for name in (
        "S47ActualStartDate", "InitialCPCtarget", "DateOfInitialCPC", "ICPCnotRequired",
    )}),
    "PreProceedingsandFGDM": ("cin_pre_proceedings", {name: name for name in (
        "PPStartDate", "LBPSentDate", "FGDMMeetingOffer", "FGDMMeetingFac", "InitialPPMeetingDate",
        "ReviewMeetingsCount", "StepDecisionDate", "PPOutcome", "CourtAppDate", "LetterInitCPDate",
    )}),
}


def _factors(assessment) -> list:
    """The AssessmentFactors elements of one assessment, inside FactorsIdentifiedAtAssessment
    (the DfE schema) or directly under Assessments."""
    found = []
    for element in assessment:
        name = _local(element.tag)
        if name == "FactorsIdentifiedAtAssessment":
            found.extend(e for e in element if _local(e.tag) == "AssessmentFactors")
        elif name == "AssessmentFactors":
            found.append(element)
    return found


def _details_parts(details) -> tuple[dict[str, str | None], list, list]:
    """One pass over a CINdetails block: its own fields (``_CIN_DETAILS``), its CP plans (each
    ``ChildProtectionPlans`` element, the DfE schema, or the ``ChildProtectionPlan`` elements it
    wraps) and its other modules (``_CIN_MODULES``: element and (source, fields)), each in
    document order; a field given twice keeps the last."""
    fields: dict[str, str | None] = {}
    plans = []
    modules = []
    local = _LOCAL.get
    for element in details:
        name = local(element.tag) or _local(element.tag)
        column = _CIN_DETAILS.get(name)
        if column is not None:
            fields[column] = _text(element)
        elif name == "ChildProtectionPlans":
            nested = [e for e in element if _local(e.tag) == "ChildProtectionPlan"]
            plans.extend(nested or [element])
        else:
            module = _CIN_MODULES.get(name)
            if module is not None:
                modules.append((element, module))
    return fields, plans, modules


def _cin_modules(modules: list, child_id: str | None, referral: str | None) -> Iterator[tuple[str, dict]]:
    """Rows of the assessments (and their factors), CIN plans, section 47 enquiries and
    pre-proceedings of one CINdetails block (``_details_parts``), each keyed by the child and its
    CINreferralDate."""
    for element, (source, wanted) in modules:
        row = {"LAchildID": child_id, "CINreferralDate": referral, **_fields(element, wanted),
               "_row_number": element.sourceline}
        yield source, row
        if source == "cin_assessments":
            for factor in _factors(element):
                yield "cin_assessment_factors", {
                    "LAchildID": child_id,
                    "CINreferralDate": referral,
                    "AssessmentActualStartDate": row.get("AssessmentActualStartDate"),
                    "AssessmentFactor": _text(factor),
                    "_row_number": factor.sourceline,
                }


def read_cin_xml(path: Path) -> Iterator[tuple[str, dict]]:
    """Rows of cin_children, cin_details, cin_cp_plans and the other CINdetails modules
    (``_CIN_MODULES``: assessments and their factors, CIN plans, section 47 enquiries,
    pre-proceedings) from a CIN census ``<Message>``."""
    local = _LOCAL.get
    for child in _iterparse(path, CIN_RECORD):  # any namespace, or none
        identifiers_el = characteristics_el = None
        details_els = []
        for part in child:  # the last ChildIdentifiers/ChildCharacteristics wins
            name = local(part.tag) or _local(part.tag)
            if name == "CINdetails":
                details_els.append(part)
            elif name == "ChildIdentifiers":
                identifiers_el = part
            elif name == "ChildCharacteristics":
                characteristics_el = part
        identifiers = _fields(identifiers_el, _CIN_IDENTIFIERS) if identifiers_el is not None else {}
        characteristics = (
            _fields(characteristics_el, _CIN_CHARACTERISTICS) if characteristics_el is not None else {}
        )
        child_id = identifiers.get("LAchildID")
        yield "cin_children", {
            "LAchildID": child_id,
            "UPN": identifiers.get("UPN"),
            "PersonBirthDate": identifiers.get("PersonBirthDate"),
            "ExpectedPersonBirthDate": identifiers.get("ExpectedPersonBirthDate"),
            "GenderCurrent": identifiers.get("GenderCurrent"),
            "Sex": identifiers.get("Sex"),
            "PersonDeathDate": identifiers.get("PersonDeathDate"),
            "Ethnicity": characteristics.get("Ethnicity"),
            "_row_number": child.sourceline,
        }
        for position, details in enumerate(details_els, start=1):
            fields, plans, modules = _details_parts(details)
            referral = fields.get("CINreferralDate")
            need = fields.get("PrimaryNeedCode")
            yield "cin_details", {
                "LAchildID": child_id,
                "CINdetailsPosition": str(position),
                "CINreferralDate": referral,
                "ReferralSource": fields.get("ReferralSource"),
                "PrimaryNeedCode": need,
                "CINclosureDate": fields.get("CINclosureDate"),
                "ReasonForClosure": fields.get("ReasonForClosure"),
                "ReferralNFA": fields.get("ReferralNFA"),
                "_row_number": details.sourceline,
            }
            for plan in plans:
                plan_fields = _fields(plan, _CIN_PLAN)
                yield "cin_cp_plans", {
                    "LAchildID": child_id,
                    "CINreferralDate": referral,
                    "PrimaryNeedCode": need,
                    "CPPstartDate": plan_fields.get("CPPstartDate"),
                    "CPPendDate": plan_fields.get("CPPendDate"),
                    "InitialCategoryOfAbuse": plan_fields.get("InitialCategoryOfAbuse"),
                    "LatestCategoryOfAbuse": plan_fields.get("LatestCategoryOfAbuse"),
                    "NumberOfPreviousCPP": plan_fields.get("NumberOfPreviousCPP"),
                    "_row_number": plan.sourceline,
                }
            yield from _cin_modules(modules, child_id, referral)


READERS = {"ssda903": read_ssda903_xml, "cin": read_cin_xml}
# The element each reader takes one record from (a child), read whole and then cleared.
RECORD_TAGS = {"ssda903": SSDA903_RECORD, "cin": CIN_RECORD}
