"""Two consecutive synthetic returns give back the simulated life histories, episode for episode."""

import shutil

import pandas as pd
from conftest import materialise_all, query

WAREHOUSE = ("raw", "staging", "intermediate")


def test_two_consecutive_returns_match_the_life_histories(tmp_path):
    import pipelines.synth as synth
    from pipelines.pseudonym import load_or_create_key, pseudonymise
    from pipelines.synth._dates import day, to_date

    generated = tmp_path / "all"
    synth.generate(generated, scale="tiny", seed=2026)
    exports = tmp_path / "two"
    for year in ("2023-24", "2024-25"):
        shutil.copytree(generated / "ssda903" / year, exports / "ssda903" / year)
    shutil.copy(generated / "population.csv", exports / "population.csv")
    assert materialise_all(exports, tmp_path / "out", groups=WAREHOUSE).success

    staged = query(
        tmp_path / "out",
        "select child_id, decom, dec, rne, ls, is_repaired from intermediate.int_care_episodes",
    )
    assert not staged["is_repaired"].any()
    assert not staged.duplicated(["child_id", "decom"]).any()
    ordered = staged.sort_values(["child_id", "decom"])
    next_start = ordered.groupby("child_id")["decom"].shift(-1)
    assert not ((ordered["dec"].notna()) & next_start.notna() & (ordered["dec"] > next_start)).any()

    cfg = synth.make_config("tiny", 2026)
    key = load_or_create_key()
    histories = []
    for chunk, (n, id_base) in enumerate(synth.chunks(cfg.n_children)):
        h = synth.simulate(cfg, n, chunk=chunk, id_base=id_base)
        ep = pd.DataFrame({k: h.episodes[k] for k in ("child", "decom", "dec")})
        ep["child_id"] = h.children["child_id"][ep["child"]]
        histories.append(ep)
    life = pd.concat(histories)
    lo, hi = day("2023-04-01"), day("2025-03-31")
    life = life[(life["decom"] <= hi) & (life["dec"] >= lo)]
    expected = {
        (
            pseudonymise(str(int(r.child_id)), key),
            to_date(int(r.decom)),
            to_date(int(r.dec)) if r.dec <= hi else None,
        )
        for r in life.itertuples()
    }
    got = {
        (r.child_id, r.decom.date(), None if pd.isna(r.dec) else r.dec.date())
        for r in staged.itertuples()
    }
    assert got == expected
    assert len(got) == len(staged)
