-- Without marts.measure_coverage (a warehouse built before it, or the marts built elsewhere): the
-- catalogue measures without a single value, with no more precise reason.
select
    measures.measure_id,
    measures.name,
    measures.oba_kind,
    measures.unit,
    'not_computed' as coverage,
    'no_values' as reason_code,
    'This run gave no figures for it: its inputs are missing or hold no rows in its periods.'
        as reason,
    'Check that the exports include ' || coalesce(nullif(measures.sources, ''), 'its sources')
    || '; the data-quality page lists each file and the rows left out.' as fix,
    nullif(measures.sources, '') as missing_inputs,
from marts.measures as measures
where not exists (
    select 1 from marts.measure_values as v
    where v.measure_id = measures.measure_id and v.breakdown in ('all', 'program')
        and v.value is not null and not isnan(v.value)
)
