-- cla_count: one row per month end; children looked after on the day.
with periods as (
    select * from int_ssda903_periods
),

snapshot as (
    select * from int_cla_snapshot
),

counts as (
    select
        periods.period_end,
        count(distinct snapshot.child_id) as children,
    from periods
    left join snapshot on snapshot.period_end = periods.period_end
    group by periods.period_end
),

final as (
    select
        period_end,
        'all' as breakdown,
        'all' as breakdown_value,
        children as numerator,
        null as denominator,
        children as value,
    from counts
)

select * from final
