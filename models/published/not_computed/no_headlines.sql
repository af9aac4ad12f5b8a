-- No published measures yet: no headline flags.
select null::varchar as measure_id, null::boolean as is_headline, null::bigint as headline_order
where false
