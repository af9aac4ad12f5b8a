-- One row per child per month end on which the child is looked after: an episode open on the
-- day (DECOM <= X and (DEC null or DEC > X)), short breaks (LS V3/V4) excluded.
with periods as (
    select * from int_ssda903_periods
),

episodes as (
    select * from int_care_episodes
    where not is_short_break
),

open_on_day as (
    select distinct
        periods.period_end,
        episodes.child_id,
    from periods
    inner join episodes
        on episodes.decom <= periods.period_end
        and coalesce(episodes.dec, date '9999-12-31') > periods.period_end
)

select * from open_on_day
