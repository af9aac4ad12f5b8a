-- published.pub_contract_results of a warehouse without contract results: no rows.
select
    null::varchar as source, null::varchar as check_name, null::boolean as success,
    null::bigint as unexpected_count, null::varchar as severity, null::varchar as message,
where false
