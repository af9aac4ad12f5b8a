-- One row per episode of care (not a short break, LS V3/V4) with its period of care: episodes
-- in a row, each starting on the day the one before ended, make one period (numbered per
-- child, begun on its first episode's DECOM). placement_start: when the child's placement at
-- the episode began (the latest episode of the period so far with RNE S, P, B, T or U);
-- previous_placement_start: when the placement before that one began, if the period had one.
with episodes as (
    select * from int_care_episodes
    where not is_short_break
),

linked as (
    select
        episodes.*,
        lag(dec) over (partition by child_id order by decom) as previous_dec,
    from episodes
),

numbered as (
    select
        linked.* exclude (previous_dec),
        sum(case when previous_dec is null or previous_dec <> decom then 1 else 0 end)
            over (partition by child_id order by decom rows unbounded preceding) as period_number,
    from linked
),

in_periods as (
    select
        numbered.*,
        min(decom) over (partition by child_id, period_number) as period_start,
        max(case when rne in ('S', 'P', 'B', 'T', 'U') then decom end)
            over (partition by child_id, period_number order by decom rows unbounded preceding)
            as placement_start,
    from numbered
),

placements as (
    select
        child_id,
        period_number,
        decom as placement_start,
        lag(decom) over (partition by child_id, period_number order by decom) as previous_placement_start,
    from numbered
    where rne in ('S', 'P', 'B', 'T', 'U')
),

final as (
    select
        in_periods.*,
        placements.previous_placement_start,
    from in_periods
    left join placements
        on placements.child_id = in_periods.child_id
        and placements.period_number = in_periods.period_number
        and placements.placement_start = in_periods.placement_start
)

select * from final
