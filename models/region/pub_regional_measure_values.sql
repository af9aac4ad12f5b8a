-- published.regional_measure_values: marts.regional_measure_values suppressed and rounded, one row
-- per measure, period end and area. Counts from 1 to $upper (and percentages and rates whose
-- numerator is; a mean number of days when its denominator, the children counted, is) are c;
-- the region's counts are rounded to the nearest 10, days to whole days.
with v as (
    select r.*, m.unit from marts.regional_measure_values as r
    inner join marts.measures as m using (measure_id)
),

shown as (
    select
        v.*,
        case
            when v.breakdown = 'all' and v.unit = 'count' then round(v.value / 10) * 10
            when v.unit = 'count' and v.value between 1 and $upper then null
            when v.unit = 'days' and (v.denominator between 1 and $upper) then null
            when v.unit = 'days' then round(v.value)
            when v.unit <> 'count' and (v.numerator between 1 and $upper) then null
            when v.unit = 'count' then v.value
            else round(v.value, 1)
        end as published_value,
        case
            when v.value is null then 'x'
            when v.breakdown = 'all' and v.unit = 'count' then format('{:,}', (round(v.value / 10) * 10)::bigint)
            when v.unit = 'count' and v.value between 1 and $upper then 'c'
            when v.unit = 'days' and (v.denominator between 1 and $upper) then 'c'
            when v.unit = 'days' then format('{:,}', round(v.value)::bigint)
            when v.unit <> 'count' and (v.numerator between 1 and $upper) then 'c'
            when v.unit = 'count' then format('{:,}', v.value::bigint)
            else format('{:.1f}', v.value)
        end as shown,
    from v
)

select measure_id, period_end, breakdown, breakdown_value, published_value as value, shown from shown
