-- One row per child per month end for children who started to be looked after in the 12 months
-- ending on the day: an episode with RNE S and DECOM in (X - 1 year, X], short breaks (LS V3/V4)
-- excluded. The latest such start gives the category of need and locality; sex, ethnicity and
-- age band at X come from the child's newest header row.
-- materialized: view
with periods as (
    select * from int_ssda903_periods
),

episodes as (
    select * from int_care_episodes
    where not is_short_break and rne = 'S'
),

children as (
    select * from int_child_attributes
    where source = 'ssda903'
),

starts as (
    select
        periods.period_end,
        episodes.child_id,
        count(*) as starts_in_window,
        max(episodes.decom) as latest_start,
        arg_max_null(episodes.cin, episodes.decom) as cin,
        arg_max_null(episodes.home_postcode_district, episodes.decom) as home_postcode_district,
    from periods
    inner join episodes
        on episodes.decom > (periods.period_end - interval 1 year)::date
        and episodes.decom <= periods.period_end
    group by periods.period_end, episodes.child_id
),

with_age as (
    select
        starts.*,
        children.date_of_birth,
        coalesce(children.sex, 'Unknown') as sex,
        coalesce(children.ethnicity, 'Unknown') as ethnicity,
        age_years(date_of_birth, period_end) as age,
    from starts
    left join children on children.child_id = starts.child_id
),

final as (
    select
        period_end,
        child_id,
        starts_in_window,
        latest_start,
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
