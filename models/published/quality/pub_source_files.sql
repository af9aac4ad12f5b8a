-- published.pub_source_files: for each source of the data-contract catalogue, each file read for
-- it: its collection year and where that came from, its rows read, kept in the figures, excluded
-- (an unusable key), flagged (kept with a value cleared, or kept with a warning only) and the
-- file that superseded it; a source no file was read for is one row, status 'not supplied'
-- (DESIGN §2b: shown on the data-quality page). Counts, never a value.
-- {catalogue}: (source, title) of every contract; {quarantine}: quality.quarantine, or an empty
-- relation of its columns; {action}: the row's action (see pub_quarantine_summary).
with catalogue (source, title) as (values {catalogue}),

rows_flagged as (
    select
        source,
        source_file,
        row_number,
        bool_or({action} in ('excluded', 'quarantine')) as excluded,
        bool_or({action} = 'kept') as cleared,
        bool_or({action} = 'warn') as warned,
    from {quarantine}
    group by all
),

flagged as (
    select
        source,
        source_file,
        count(*) filter (where not excluded and cleared)::bigint as rows_cleared,
        count(*) filter (where not excluded and not cleared and warned)::bigint as rows_warned,
    from rows_flagged
    group by all
)

select
    c.source,
    c.title,
    split_part(l.source_file, '#', 1) as source_file,
    nullif(split_part(l.source_file, '#', 2), '') as part,
    l.collection_year::integer as collection_year,
    l.year_from,
    l.year_note,
    l.rows::bigint as rows_read,
    case when l.superseded_by is null then l.rows - coalesce(l.rows_excluded, 0) else 0 end::bigint
        as rows_kept,
    coalesce(l.rows_excluded, 0)::bigint as rows_excluded,
    coalesce(f.rows_cleared, 0) as rows_cleared,
    coalesce(f.rows_warned, 0) as rows_warned,
    (coalesce(f.rows_cleared, 0) + coalesce(f.rows_warned, 0))::bigint as rows_flagged,
    l.superseded_by,
    case
        when l.source is null then 'not supplied'
        when l.superseded_by is not null then 'superseded'
        else 'read'
    end as status,
from catalogue as c
left join raw._loads as l on c.source = l.source
left join flagged as f on l.source = f.source and l.source_file = f.source_file
order by c.source, l.collection_year nulls first, l.source_file
