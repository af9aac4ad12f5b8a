-- One row per care leaver per SSDA903 return (OC3), typed and tidied.
with source as (
    select * from raw.ssda903_oc3
    where _active and not _quarantined
),

renamed as (
    select
        pseudonym(child) as child_id,
        coalesce(
            try_strptime(trim(dob), '%d/%m/%Y'),
            try_strptime(trim(dob), '%Y-%m-%d')
        )::date as date_of_birth,
        nullif(upper(trim(in_touch)), '') as in_touch,
        nullif(upper(trim(activ)), '') as activ,
        nullif(upper(trim(accom)), '') as accom,
        _collection_year as collection_year,
        _source_file as source_file,
        _row_number as source_row_number,
    from source
)

select * from renamed
