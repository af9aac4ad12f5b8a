-- One row per mid-year: the authority's population aged 0-17. The area is the configured
-- authority code, else the only area in the population file. Single years of age are summed
-- when all 18 are present; otherwise a 0-17 total row is used.
with population as (
    select * from stg_population
    where mid_year is not null and population is not null and age is not null
),

settings as (
    select * from oba_config
),

areas as (
    select count(distinct area_code) as n_areas, min(area_code) as only_area from population
),

chosen as (
    select coalesce(
        (select upper(authority_code) from settings),
        (select only_area from areas where n_areas = 1)
    ) as area_code
),

single_years as (
    select
        mid_year,
        sum(population) as population,
        count(distinct age) as n_ages,
    from population
    inner join chosen using (area_code)
    where age <> '0-17' and try_cast(age as integer) between 0 and 17
    group by mid_year
),

totals as (
    select
        mid_year,
        sum(population) as population,
    from population
    inner join chosen using (area_code)
    where age = '0-17'
    group by mid_year
),

final as (
    select
        coalesce(s.mid_year, t.mid_year) as mid_year,
        (select area_code from chosen) as area_code,
        case when s.n_ages = 18 then s.population else coalesce(t.population, s.population) end
            as population,
    from single_years as s
    full outer join totals as t on s.mid_year = t.mid_year
)

select * from final order by mid_year
