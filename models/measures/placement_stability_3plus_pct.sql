-- placement_stability_3plus_pct: one row per month end and breakdown value; of the children
-- looked after on the day (cla_count), the % with 3 or more placements in the 12 months ending
-- on it (see int_cla_placements_12m). Breakdowns: age band at X, sex, ethnicity, category of
-- need and locality of the open episode.
with periods as (
    select * from int_ssda903_periods
),

placements as (
    select * from int_cla_placements_12m
),

members as (
    select
        period_end,
        child_id,
        placements >= 3 as has_3plus,
        age_band,
        sex,
        ethnicity,
        category_of_need,
        locality,
    from placements
),

-- int_cla_placements_12m has one row per child and month end, so count(*) counts each once.
-- One grouping set per breakdown reads it once.
counts as (
    select
        period_end,
        case
            when grouping(age_band) = 0 then 'age_band'
            when grouping(sex) = 0 then 'sex'
            when grouping(ethnicity) = 0 then 'ethnicity'
            when grouping(category_of_need) = 0 then 'category_of_need'
            when grouping(locality) = 0 then 'locality'
            else 'all'
        end as breakdown,
        case
            when grouping(age_band) = 0 then age_band
            when grouping(sex) = 0 then sex
            when grouping(ethnicity) = 0 then ethnicity
            when grouping(category_of_need) = 0 then category_of_need
            when grouping(locality) = 0 then locality
            else 'all'
        end as breakdown_value,
        count_if(has_3plus) as children_3plus,
        count(*) as children,
    from members
    group by grouping sets (
        (period_end),
        (period_end, age_band),
        (period_end, sex),
        (period_end, ethnicity),
        (period_end, category_of_need),
        (period_end, locality)
    )
),

breakdown_values as (
    select distinct breakdown, breakdown_value from counts
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

final as (
    select
        grid.period_end,
        grid.breakdown,
        grid.breakdown_value,
        coalesce(counts.children_3plus, 0) as numerator,
        coalesce(counts.children, 0) as denominator,
        case
            when coalesce(counts.children, 0) > 0
                then 100.0 * counts.children_3plus / counts.children
        end as value,
    from grid
    left join counts
        on counts.period_end = grid.period_end
        and counts.breakdown = grid.breakdown
        and counts.breakdown_value = grid.breakdown_value
)

select * from final
