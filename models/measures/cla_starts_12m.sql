-- cla_starts_12m: one row per month end and breakdown value; distinct children with an episode
-- starting a period of care (RNE S, short breaks excluded) in the 12 months ending on the day,
-- (X - 1 year, X]. Breakdowns: age band at X, sex, ethnicity, category of need and locality of
-- the latest start.
-- Counted in int_measure_counts (population cla_starts).
with counts as (
    select * from int_measure_counts
    where population = 'cla_starts'
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
