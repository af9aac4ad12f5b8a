-- published.pub_not_computed: one row per measure this run could not compute, or computed for
-- some periods only (DESIGN §2b "Say what cannot be computed"): the reason and the fix name
-- sources, area codes and periods, never a record. Reads the views not_computed_coverage (the
-- measures and why) and not_computed_headlines (the headline flags).
with coverage as (
    select * from not_computed_coverage
),

headlines as (
    select * from not_computed_headlines
),

final as (
    select
        coverage.measure_id,
        coverage.name,
        coverage.oba_kind,
        coverage.unit,
        coalesce(headlines.is_headline, false) as is_headline,
        headlines.headline_order,
        coverage.coverage,
        coverage.reason_code,
        coverage.reason,
        coverage.fix,
        coverage.missing_inputs,
    from coverage
    left join headlines on coverage.measure_id = headlines.measure_id
)

select * from final
order by headline_order nulls last, coverage desc, oba_kind, measure_id
