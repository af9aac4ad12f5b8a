"""great-expectations suites generated from the data contracts (contract-level checks).

Each contract becomes one expectation suite, validated on the source's active raw rows with
GX's pandas engine in an ephemeral context (GX is imported lazily: it is slow to import).
Results are rows of ``quality.contract_results``. Row-level rules that must quarantine single
rows are SQL (pipelines.quality); these suites give the contract-level view: is each required
column filled, are dates in the declared format, are codes in the code list, are keys unique.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import warnings

import pandas as pd

from pipelines.contracts import Contract

os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
os.environ.setdefault("TQDM_DISABLE", "1")  # GX progress bars would flood run logs


def build_expectations(contract: Contract) -> list[tuple[object, str]]:
    """(expectation, severity) pairs for ``contract``."""
    import great_expectations as gx

    items: list[tuple[object, str]] = [
        (gx.expectations.ExpectTableRowCountToBeBetween(min_value=1), "warning"),
    ]
    for c in contract.columns:
        if not c.nullable:
            items.append((gx.expectations.ExpectColumnValuesToNotBeNull(column=c.sql_name), "warning"))
        if c.type == "date" and c.formats:
            items.append(
                (
                    gx.expectations.ExpectColumnValuesToMatchRegex(
                        column=c.sql_name,
                        regex=_date_regex(c.formats),
                    ),
                    "warning",
                )
            )
        if c.codes:
            codes = sorted(set().union(*(v.codes for v in contract.code_lists[c.codes])))
            items.append(
                (gx.expectations.ExpectColumnValuesToBeInSet(column=c.sql_name, value_set=codes), "warning")
            )
    return items


def _date_regex(formats: tuple[str, ...]) -> str:
    patterns = {
        "%d/%m/%Y": r"\d{2}/\d{2}/\d{4}",
        "%Y-%m-%d": r"\d{4}-\d{2}-\d{2}",
    }
    alternatives = [patterns.get(f, r".+") for f in formats]
    return r"^\s*(" + "|".join(alternatives) + r")\s*$"


def validate(contract: Contract, frame: pd.DataFrame) -> list[dict]:
    """Run the contract's suite on ``frame`` (raw text columns, codes upper-cased)."""
    import great_expectations as gx

    logging.getLogger("great_expectations").setLevel(logging.ERROR)
    frame = frame.copy()
    for c in contract.columns:
        if c.sql_name in frame.columns:
            series = frame[c.sql_name].astype("string").str.strip()
            series = series.mask(series == "")
            if c.type == "code":
                series = series.str.upper()
            frame[c.sql_name] = series.astype(object).where(series.notna(), None)
    items = build_expectations(contract)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        context = gx.get_context(mode="ephemeral")
        context.variables.progress_bars = gx.data_context.types.base.ProgressBarsConfig(globally=False)
        source = context.data_sources.add_pandas(name=f"{contract.source}_source")
        asset = source.add_dataframe_asset(name=contract.source)
        batch_definition = asset.add_batch_definition_whole_dataframe(f"{contract.source}_all")
        suite = context.suites.add(gx.ExpectationSuite(name=f"{contract.source}_contract"))
        for expectation, _ in items:
            suite.add_expectation(expectation)
        batch = batch_definition.get_batch(batch_parameters={"dataframe": frame})
        result = batch.validate(suite, result_format="SUMMARY")
    checked_at = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    severity = {type(e).__name__ + str(getattr(e, "column", "")): s for e, s in items}
    rows = []
    for r in result.results:
        config = r.expectation_config
        column = config.kwargs.get("column", "")
        name = config.type + (f"[{column}]" if column else "")
        unexpected = int((r.result or {}).get("unexpected_count") or 0)
        examples = (r.result or {}).get("partial_unexpected_list") or []
        rows.append(
            {
                "source": contract.source,
                "check_name": name,
                "success": bool(r.success),
                "unexpected_count": unexpected,
                "severity": severity.get(_class_name(config.type) + column, "warning"),
                "message": (
                    "passed"
                    if r.success
                    else (f"observed {(r.result or {}).get('observed_value')}" if not column else f"{unexpected} value(s) fail")
                    + (f"; e.g. {', '.join(map(str, examples[:3]))}" if examples and column not in _ids(contract) else "")
                ),
                "engine": "great_expectations",
                "checked_at": checked_at,
            }
        )
    return rows


def _ids(contract: Contract) -> set[str]:
    return {i.lower() for i in contract.identifiers}


def _class_name(snake: str) -> str:
    return "".join(part.capitalize() for part in snake.split("_"))
