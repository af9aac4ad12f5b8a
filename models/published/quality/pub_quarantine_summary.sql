-- published.pub_quarantine_summary: one row per source, file, column, rule and action; rows
-- counted, never a value. {action} is the row's action (a warehouse built before actions were
-- recorded gives 'quarantine'). rule_message: a contract rule's own message, the same text for
-- every row it fails (a column check's message quotes the value, so it is left out; the page
-- words those checks itself); quoted text is replaced all the same.
select
    source,
    source_file,
    column_name,
    rule,
    {action} as action,
    count(*)::bigint as rows,
    case
        when rule in ('missing_value', 'unknown_code', 'duplicate_key') or rule like '%\_format' escape '\'
            then null
        else left(regexp_replace(min(message), '''[^'']*''|"[^"]*"', '…', 'g'), 1000)
    end as rule_message,
from {quarantine}
group by source, source_file, column_name, rule, {action}
order by source, source_file, column_name, rule
