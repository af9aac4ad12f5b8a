-- published.pub_source_files of a warehouse without the loads' record (raw._loads): no rows.
select
    null::varchar as source, null::varchar as title, null::varchar as source_file,
    null::varchar as part, null::integer as collection_year, null::varchar as year_from,
    null::varchar as year_note, null::bigint as rows_read, null::bigint as rows_kept,
    null::bigint as rows_excluded, null::bigint as rows_cleared, null::bigint as rows_warned,
    null::bigint as rows_flagged, null::varchar as superseded_by, null::varchar as status,
where false
