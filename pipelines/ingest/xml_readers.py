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


_LOCAL: dict = {}


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


def read_ssda903_xml(path: Path) -> Iterator[tuple[str, dict]]:
    """Rows of ssda903_header, ssda903_episodes and ssda903_oc3 from an ``<EXPSSDA903>`` file.

    The child's id is ``CHILDID`` or ``CHILD`` inside ``HEADER`` (``<CHILD><HEADER><CHILD>``),
    or a field of ``CHILD`` itself beside ``HEADER``; only the top-level ``CHILD`` elements are
    records."""
    for child in _iterparse(path, "{*}CHILD", parent="EXPSSDA903"):  # any namespace, or none
        header_el = None
        episodes = []
        header = {"_row_number": child.sourceline}
        oc3 = {}
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
        if header_el is not None:
            header["_row_number"] = header_el.sourceline
            for element in header_el:
                name = _local(element.tag)
                if name in SSDA903_HEADER:
                    header[SSDA903_HEADER[name]] = _text(element)
                elif name in SSDA903_OC3:
                    oc3[name] = _text(element)
        child_id = header.get("CHILD")
        yield "ssda903_header", header
        if oc3:
            yield "ssda903_oc3", {"CHILD": child_id, "DOB": header.get("DOB"),
                                  "_row_number": header["_row_number"], **oc3}
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


def _plans(cin_details) -> list:
    """CP plans of one CINdetails block, whether each plan is its own ``ChildProtectionPlans``
    element (the DfE schema) or wrapped as ``ChildProtectionPlans/ChildProtectionPlan``."""
    plans = []
    for element in cin_details:
        if _local(element.tag) != "ChildProtectionPlans":
            continue
        nested = [e for e in element if _local(e.tag) == "ChildProtectionPlan"]
        plans.extend(nested or [element])
    return plans


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


def read_cin_xml(path: Path) -> Iterator[tuple[str, dict]]:
    """Rows of cin_children, cin_details and cin_cp_plans from a CIN census ``<Message>``."""
    local = _LOCAL.get
    for child in _iterparse(path, "{*}Child"):  # any namespace, or none
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
            fields = _fields(details, _CIN_DETAILS)
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
            for plan in _plans(details):
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


READERS = {"ssda903": read_ssda903_xml, "cin": read_cin_xml}
