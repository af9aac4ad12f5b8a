-- published.pub_quarantine_summary: one row per source, file, column, rule and action; rows
-- counted, never a value. {action} is the row's action (a warehouse built before actions were
-- recorded gives 'quarantine').
select
    source,
    source_file,
    column_name,
    rule,
    {action} as action,
    count(*)::bigint as rows,
from quality.quarantine
group by all
order by source, source_file, column_name, rule
