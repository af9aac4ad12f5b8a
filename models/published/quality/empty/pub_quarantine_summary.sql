-- published.pub_quarantine_summary of a warehouse without quarantined rows: no rows.
select
    null::varchar as source, null::varchar as source_file, null::varchar as column_name,
    null::varchar as rule, null::varchar as action, null::bigint as rows,
    null::varchar as rule_message,
where false
