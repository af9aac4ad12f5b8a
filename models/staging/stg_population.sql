-- One row per area, mid-year and age (single year, or '0-17' for a total row).
with source as (
    select * from raw.population_checked  -- active rows not excluded; values a check cleared are null
),

renamed as (
    select
        upper(trim(area_code)) as area_code,
        try_cast(trim(year) as integer) as mid_year,
        case
            when regexp_full_match(trim(age), '\d+') then trim(age)
            when regexp_full_match(replace(lower(trim(age)), ' ', ''), '(0-17|0to17|all|total)')
                then '0-17'
        end as age,
        try_cast(replace(trim(population), ',', '') as double) as population,
    from source
)

select * from renamed
