-- published.pub_export_files: one row per export file: what it was recognised as, its collection
-- year and where that came from, its rows and status (DESIGN §2b: shown on the data-quality
-- page). File facts, never a value.
select source_file, recognised_as, collection_year, year_from, year_note, rows_read, rows_kept,
    rows_quarantined, rows_cleared, status, superseded_by, reason,
from quality.export_files
order by source_file
