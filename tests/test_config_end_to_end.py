"""oba.yaml read end to end: baselines, targets, suppression.upper and a stories folder of one's
own, given in a real oba.yaml and run through the CLI, reach the warehouse and the published
tables (the unit tests of pipelines/config.py check each key's parsing alone)."""

import datetime as dt
import shutil

import yaml
from conftest import query

from pipelines.cli import main


def test_every_oba_yaml_key_reaches_the_published_tables(hand_council, tmp_path):
    exports, out = tmp_path / "exports", tmp_path / "out"
    shutil.copytree(hand_council, exports)
    (exports / "stories").rename(exports / "our_stories")
    config = yaml.safe_load((exports / "oba.yaml").read_text())
    config.update(
        baselines={"cla_count": "2023-09-30"},
        targets={"cla_count": 3.5},
        suppression={"upper": 2},
        stories="our_stories",
    )
    (exports / "oba.yaml").write_text(yaml.safe_dump(config))

    assert main(["run", "--exports", str(exports), "--out", str(out)]) == 0

    assert query(out, "select suppression_upper from raw.oba_config")["suppression_upper"].tolist() == [2]

    status = query(
        out,
        "select distinct baseline_end, target from marts.measure_status "
        "where measure_id = 'cla_count' and breakdown = 'all'",
    )
    assert [d.date() for d in status["baseline_end"]] == [dt.date(2023, 9, 30)]
    assert status["target"].tolist() == [3.5]
    # suppression.upper reaches the verdicts too: under upper 2, seven of the 18 counts up to the
    # baseline end (1s and 2s) are suppressed, so gaps; 11 values remain, too few for a forecast
    # (DESIGN §4), and no forecast means no lock
    notes = query(out, "select distinct status, status_note from marts.measure_status "
                       "where measure_id = 'cla_count' and breakdown = 'all'")
    assert notes.to_dict("records") == [
        {"status": "insufficient_data", "status_note": "Fewer than 12 values before the baseline end."}
    ]
    assert not (out / "baselines" / "cla_count.json").exists()

    card = query(out, "select target, baseline_end from published.pub_report_card where measure_id = 'cla_count'")
    assert card["target"].tolist() == [3.5]

    # The hand-made council has 3 children looked after on 31 May 2023 and fewer on 31 January
    # 2023: 3 is published under upper 2 (the default, 5, hides it), 1 or 2 is not.
    published = query(
        out,
        "select period_end, value from published.pub_measure_values "
        "where measure_id = 'cla_count' and breakdown = 'all' and period_end in ('2023-01-31', '2023-05-31') "
        "order by period_end",
    )
    assert published["value"].tolist() == ["c", "3"]
    exact = query(
        out,
        "select value from marts.measure_values where measure_id = 'cla_count' and breakdown = 'all' "
        "and period_end in ('2023-01-31', '2023-05-31') order by period_end",
    )
    assert exact["value"].tolist()[1] == 3 and 1 <= exact["value"].tolist()[0] <= 2

    stories = query(out, "select story from published.pub_stories where measure_id = 'cla_count'")
    assert len(stories) == 1 and "Court delays" in stories["story"].iloc[0]
