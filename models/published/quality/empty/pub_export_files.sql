-- published.pub_export_files of a warehouse without the export files' list: no rows.
select
    null::varchar as source_file, null::varchar as recognised_as, null::integer as collection_year,
    null::varchar as year_from, null::varchar as year_note, null::bigint as rows_read,
    null::bigint as rows_kept, null::bigint as rows_quarantined, null::bigint as rows_cleared,
    null::varchar as status, null::varchar as superseded_by, null::varchar as reason,
where false
