-- One row per child per month end on which the child is looked after: an episode open on the
-- day (DECOM <= X and (DEC null or DEC > X)), short breaks (LS V3/V4) excluded. The episode
-- open on the day gives the category of need and locality (the latest-starting one should two
-- overlap); sex, ethnicity and age band at X come from the child's newest header row.
-- materialized: view
with periods as (
    select * from int_ssda903_periods
),

episodes as (
    select * from int_care_episodes
    where not is_short_break
),

children as (
    select * from int_child_attributes
    where source = 'ssda903'
),

open_on_day as (
    select
        periods.period_end,
        episodes.child_id,
        max(episodes.decom) as decom,
        arg_max_null(episodes.cin, episodes.decom) as cin,
        arg_max_null(episodes.home_postcode_district, episodes.decom) as home_postcode_district,
    from periods
    inner join episodes
        on episodes.decom <= periods.period_end
        and coalesce(episodes.dec, date '9999-12-31') > periods.period_end
    group by periods.period_end, episodes.child_id
),

with_age as (
    select
        open_on_day.*,
        children.date_of_birth,
        coalesce(children.sex, 'Unknown') as sex,
        coalesce(children.ethnicity, 'Unknown') as ethnicity,
        age_years(date_of_birth, period_end) as age,
    from open_on_day
    left join children on children.child_id = open_on_day.child_id
),

final as (
    select
        period_end,
        child_id,
        decom,
        cin,
        home_postcode_district,
        date_of_birth,
        age,
        age_band(date_of_birth, period_end) as age_band,
        sex,
        ethnicity,
        coalesce(cin, 'Unknown') as category_of_need,
        coalesce(home_postcode_district, 'Unknown') as locality,
    from with_age
)

select * from final
