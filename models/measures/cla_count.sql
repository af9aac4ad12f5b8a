-- cla_count: one row per month end and breakdown value; distinct children looked after on the
-- day (an episode open on X, short breaks excluded). Breakdowns: age band at X, sex, ethnicity,
-- category of need and locality of the open episode.
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
        members as numerator,
        null as denominator,
        members as value,
    from counts
)

select * from final
