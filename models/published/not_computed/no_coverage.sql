-- Neither the coverage model nor the marts to work it out from: no measures.
select
    null::varchar as measure_id, null::varchar as name, null::varchar as oba_kind,
    null::varchar as unit, null::varchar as coverage, null::varchar as reason_code,
    null::varchar as reason, null::varchar as fix, null::varchar as missing_inputs,
where false
