-- One row per source system and child (or client): sex, date of birth, ethnicity and (case
-- export only) postcode district from the newest record naming the child: the SSDA903 header
-- or CIN census child of the newest return, the case export's client row. Sex and ethnicity
-- are labelled for breakdowns: ethnicity in DfE major groups.
with ssda903_header as (
    select * from stg_ssda903_header
    where child_id is not null
),

cin_children as (
    select * from stg_cin_children
    where child_id is not null
),

case_clients as (
    select * from stg_case_clients
    where client_id is not null
),

-- Every record naming a child, with what orders them: the return's collection year (none for
-- the case export), then file and row.
records as (
    select
        'ssda903' as source, child_id, sex, date_of_birth, ethnic_code,
        null::varchar as postcode_district, collection_year, source_file, source_row_number,
    from ssda903_header
    union all
    select
        'cin' as source, child_id, sex, date_of_birth, ethnic_code,
        null::varchar as postcode_district, collection_year, source_file, source_row_number,
    from cin_children
    union all
    select
        'case' as source, client_id as child_id, sex, date_of_birth, ethnic_code, postcode_district,
        null as collection_year, source_file, source_row_number,
    from case_clients
),

all_children as (
    select source, child_id, sex, date_of_birth, ethnic_code, postcode_district,
    from records
    qualify row_number() over (
        partition by source, child_id
        order by collection_year desc nulls last, source_file desc, source_row_number desc
    ) = 1
),

labelled as (
    select
        source,
        child_id,
        date_of_birth,
        case sex
            when 'M' then 'Male'
            when 'F' then 'Female'
            else 'Unknown'
        end as sex,
        ethnic_code,
        case
            when ethnic_code in ('REFU') then 'Refused'
            when ethnic_code in ('NOBT') then 'Information not yet obtained'
            when ethnic_code in ('CHNE', 'OOTH') then 'Other ethnic groups'
            -- DfE main codes and the extended codes that refine them share the first letter.
            when regexp_full_match(ethnic_code, '[A-Z]{4}') then
                case left(ethnic_code, 1)
                    when 'W' then 'White'
                    when 'M' then 'Mixed'
                    when 'A' then 'Asian or Asian British'
                    when 'B' then 'Black or Black British'
                    when 'O' then 'Other ethnic groups'
                    else 'Unknown'
                end
            else 'Unknown'
        end as ethnicity,
        postcode_district,
    from all_children
),

final as (
    select * from labelled
)

select * from final
