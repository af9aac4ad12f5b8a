-- One row per child per month end on which the child is looked after (as int_cla_snapshot),
-- with the number of placements in the 12 months ending on the day: 1 if an episode was open
-- on the window's first day and began before it, plus the episodes starting in the window with
-- RNE S, P, B, T or U (RNE L, a change of legal status only, is not a placement). Short breaks
-- (LS V3/V4) excluded. Window of X: (X - 1 year, X].
-- materialized: view
with snapshot as (
    select * from int_cla_snapshot
),

episodes as (
    select * from int_care_episodes
    where not is_short_break
),

windows as (
    select
        snapshot.*,
        (snapshot.period_end - interval 1 year)::date + 1 as window_start,
    from snapshot
),

counted as (
    select
        windows.period_end,
        windows.child_id,
        count(*) filter (
            where episodes.decom >= windows.window_start
            and episodes.rne in ('S', 'P', 'B', 'T', 'U')
        ) as placements_started,
        coalesce(bool_or(
            episodes.decom < windows.window_start
            and coalesce(episodes.dec, date '9999-12-31') > windows.window_start
        ), false) as placed_at_window_start,
    from windows
    inner join episodes
        on episodes.child_id = windows.child_id
        and episodes.decom <= windows.period_end
    group by windows.period_end, windows.child_id
),

final as (
    select
        windows.* exclude (window_start),
        windows.window_start,
        coalesce(counted.placements_started, 0)
            + case when counted.placed_at_window_start then 1 else 0 end as placements,
    from windows
    left join counted
        on counted.period_end = windows.period_end
        and counted.child_id = windows.child_id
)

select * from final
