-- The measures not computed, or computed for some periods only, with marts.measure_coverage's
-- reason and fix.
select measure_id, name, oba_kind, unit, coverage, reason_code, reason, fix, missing_inputs,
from marts.measure_coverage
where coverage <> 'computed'
