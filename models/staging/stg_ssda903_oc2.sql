-- One row per child looked after continuously for 12 months at 31 March (OC2) per SSDA903
-- return; the 0/1 checks as booleans (null when not given).
with source as not materialized (
    select * from raw.ssda903_oc2_checked  -- active rows not excluded; values a check cleared are null
),

pseudonyms as (
    -- Each distinct identifier is hashed once, then joined back: the HMAC is the costly part.
    select id, pseudonym(id) as pseudonym from (select distinct child as id from source)
),

renamed as (
    select
        pseudonyms.pseudonym as child_id,
        coalesce(
            try_strptime(trim(dob), '%d/%m/%Y'),
            try_strptime(trim(dob), '%Y-%m-%d')
        )::date as date_of_birth,
        try_cast(trim(sdq_score) as integer) as sdq_score,
        nullif(upper(trim(sdq_reason)), '') as sdq_reason,
        case trim(convicted) when '1' then true when '0' then false end as convicted,
        case trim(health_check) when '1' then true when '0' then false end as health_check,
        case trim(immunisations) when '1' then true when '0' then false end as immunisations,
        case trim(teeth_check) when '1' then true when '0' then false end as teeth_check,
        case trim(health_assessment) when '1' then true when '0' then false end as health_assessment,
        case trim(substance_misuse) when '1' then true when '0' then false end as substance_misuse,
        case trim(intervention_received) when '1' then true when '0' then false end as intervention_received,
        case trim(intervention_offered) when '1' then true when '0' then false end as intervention_offered,
        _collection_year as collection_year,
        _source_file as source_file,
        _row_number as source_row_number,
    from source
    left join pseudonyms on source.child = pseudonyms.id
)

select * from renamed
