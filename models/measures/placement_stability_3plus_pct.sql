-- placement_stability_3plus_pct: one row per month end and breakdown value; of the children
-- looked after on the day (cla_count), the % with 3 or more placements in the 12 months ending
-- on it (see int_cla_placements_12m). Breakdowns: age band at X, sex, ethnicity, category of
-- need and locality of the open episode.
-- Counted in int_measure_counts (population looked_after).
with counts as (
    select * from int_measure_counts
    where population = 'looked_after'
),

final as (
    select
        period_end,
        breakdown,
        breakdown_value,
        flagged as numerator,
        members as denominator,
        case when members > 0 then 100.0 * flagged / members end as value,
    from counts
)

select * from final
