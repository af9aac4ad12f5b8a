"""A problem with one value never removes a record (DESIGN §2b): the value is cleared, the row
stays, and an older return's record never stands in for it."""

from __future__ import annotations

import shutil

from conftest import materialise_all, query

EPISODES = "CHILD,DECOM,RNE,LS,CIN,PLACE,PLACE_PROVIDER,DEC,REC,REASON_PLACE_CHANGE,HOME_POST,PL_POST,URN"
HEADER = "CHILD,SEX,DOB,ETHNIC,UPN,MOTHER,MC_DOB"


def _write(path, lines):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_an_unknown_code_in_the_newer_return_never_lets_the_older_record_stand_in(hand_council, tmp_path):
    exports = tmp_path / "exports"
    exports.mkdir()
    shutil.copy(hand_council / "population.csv", exports)
    shutil.copy(hand_council / "oba.yaml", exports)
    # 2023-24: the episode is open on 31 March 2024.
    _write(exports / "ssda903" / "2023-24" / "header.csv", [HEADER, "500001,1,05/06/2012,WBRI,,,"])
    _write(exports / "ssda903" / "2023-24" / "episodes.csv",
           [EPISODES, "500001,01/06/2023,S,C2,N1,U1,PR1,,,,,,"])
    # 2024-25 re-submits it, ended 1 September 2024 with REC E43, a code DfE retired in 2018.
    _write(exports / "ssda903" / "2024-25" / "header.csv", [HEADER, "500001,M,05/06/2012,WBRI,,,"])
    _write(exports / "ssda903" / "2024-25" / "episodes.csv",
           [EPISODES, "500001,01/06/2023,S,C2,N1,U1,PR1,01/09/2024,E43,,,,"])
    out = tmp_path / "out"
    assert materialise_all(exports, out, groups=("raw", "staging", "intermediate", "marts")).success

    quarantine = query(out, "select source_file, column_name, rule, action from quality.quarantine "
                            "where rule = 'unknown_code'")
    assert quarantine.to_dict("records") == [
        {"source_file": "ssda903/2024-25/episodes.csv", "column_name": "REC", "rule": "unknown_code",
         "action": "kept"}
    ]
    staged = query(out, "select collection_year, dec, rec from staging.stg_ssda903_episodes "
                        "order by collection_year")
    assert staged["rec"].isna().all()  # the unknown code cleared, in the row that stays
    assert str(staged["dec"].iloc[-1])[:10] == "2024-09-01"

    counts = query(
        out,
        "select period_end::varchar as period_end, value from marts.measure_values "
        "where measure_id = 'cla_count' and breakdown = 'all' "
        "and period_end in ('2024-03-31', '2024-06-30', '2024-08-31', '2024-09-30', '2024-12-31')"
        "order by period_end",
    )
    by_month = dict(zip(counts["period_end"], counts["value"], strict=True))
    # The newer return wins: looked after until 1 September 2024 (not closed on 1 April 2024 as
    # an episode missing from the next return would be, nor left open for ever).
    assert by_month.get("2024-03-31") == 1
    assert by_month.get("2024-06-30") == 1
    assert by_month.get("2024-08-31") == 1
    assert by_month.get("2024-09-30", 0) == 0
    assert by_month.get("2024-12-31", 0) == 0
