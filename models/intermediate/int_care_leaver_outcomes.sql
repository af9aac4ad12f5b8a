-- One row per 31 March Y of each SSDA903 return and breakdown value (all, sex, ethnicity): the
-- care leavers in return Y's OC3 turning 19, 20 or 21 in the year (IN_TOUCH DIED and RHOM
-- excluded; see int_care_leavers), and how many of them are in education, employment or
-- training and in suitable accommodation; likewise (_17_18) those turning 17 or 18. Shared by
-- the care-leaver measures.
with periods as (
    select * from int_ssda903_periods
    where month(period_end) = 3
),

care_leavers as (
    select * from int_care_leavers
),

members as (
    select
        period_end,
        child_id,
        age_group,
        is_eet,
        is_suitable_accommodation,
        'all' as "all",
        sex,
        ethnicity,
    from care_leavers
),

long as (
    unpivot members
    on "all", sex, ethnicity
    into name breakdown value breakdown_value
),

breakdown_values as (
    select distinct breakdown, breakdown_value from long
    union
    select 'all' as breakdown, 'all' as breakdown_value
),

grid as (
    select
        periods.period_end,
        breakdown_values.breakdown,
        breakdown_values.breakdown_value,
    from periods
    cross join breakdown_values
),

-- int_care_leavers has one row per care leaver and return, so count(*) counts each once.
counts as (
    select
        period_end,
        breakdown,
        breakdown_value,
        count_if(is_eet and age_group = '19-21') as in_eet,
        count_if(is_suitable_accommodation and age_group = '19-21') as in_suitable_accommodation,
        count_if(age_group = '19-21') as care_leavers,
        count_if(is_suitable_accommodation and age_group = '17-18') as in_suitable_accommodation_17_18,
        count_if(age_group = '17-18') as care_leavers_17_18,
    from long
    group by period_end, breakdown, breakdown_value
),

final as (
    select
        grid.period_end,
        grid.breakdown,
        grid.breakdown_value,
        coalesce(counts.in_eet, 0) as in_eet,
        coalesce(counts.in_suitable_accommodation, 0) as in_suitable_accommodation,
        coalesce(counts.care_leavers, 0) as care_leavers,
        coalesce(counts.in_suitable_accommodation_17_18, 0) as in_suitable_accommodation_17_18,
        coalesce(counts.care_leavers_17_18, 0) as care_leavers_17_18,
    from grid
    left join counts
        on counts.period_end = grid.period_end
        and counts.breakdown = grid.breakdown
        and counts.breakdown_value = grid.breakdown_value
)

select * from final
