-- One row per mid-year and population breakdown value: the authority's children aged 0-17
-- (breakdown 'all') and in each age band (0-4, 5-9, 10-15, 16-17), the denominators of rates
-- per 10,000. A band's population needs every single year of age in it; a file with only a
-- 0-17 total gives no band rows.
with population as (
    select * from stg_population
    where mid_year is not null and population is not null and age is not null
),

total as (
    select * from int_population_0_17
),

single_years as (
    select
        population.mid_year,
        try_cast(population.age as integer) as age,
        sum(population.population) as population,
    from population
    inner join total
        on total.area_code = population.area_code
        and total.mid_year = population.mid_year
    where population.age <> '0-17' and try_cast(population.age as integer) between 0 and 17
    group by population.mid_year, try_cast(population.age as integer)
),

age_bands as (
    select * from (
        values ('0-4', 0, 4), ('5-9', 5, 9), ('10-15', 10, 15), ('16-17', 16, 17)
    ) as age_bands (age_band, first_age, last_age)
),

bands as (
    select
        single_years.mid_year,
        'age_band' as breakdown,
        age_bands.age_band as breakdown_value,
        sum(single_years.population) as population,
    from single_years
    inner join age_bands on single_years.age between age_bands.first_age and age_bands.last_age
    group by single_years.mid_year, age_bands.age_band, age_bands.first_age, age_bands.last_age
    -- every single year of the band present
    having count(distinct single_years.age) = age_bands.last_age - age_bands.first_age + 1
),

whole as (
    select
        mid_year,
        'all' as breakdown,
        'all' as breakdown_value,
        population,
    from total
    where population is not null
),

final as (
    select * from whole
    union all
    select * from bands
)

select * from final order by mid_year, breakdown, breakdown_value
