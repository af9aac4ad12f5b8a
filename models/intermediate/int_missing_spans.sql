-- One row per span of month ends X on which a child was looked after at some time in the 12
-- months ending on X, (X - 1 year, X] (DOMAIN.md §3b): an episode begun by X and not ended
-- before the window's second day. flag: the child has a Missing row with MISSING = M (missing,
-- not away from placement) starting in that window. Short breaks (LS V3/V4) are not care here.
-- The ranges of a child's episodes and incidents are merged: the counts of each change only on
-- the month ends where one begins or ends.
with episodes as (
    select * from int_care_episodes
    where not is_short_break
),

incidents as (
    select distinct child_id, missing_start from stg_ssda903_missing
    where child_id is not null and missing_start is not null and missing_type = 'M'
),

ranges as (
    select
        child_id, 'looked_after' as kind,
        last_day(decom) as first_end,
        case when dec is null then date '9999-12-31' else window_last_end(dec - 1) end as last_end,
    from episodes
    union all
    select
        child_id, 'missing' as kind,
        last_day(missing_start) as first_end,
        window_last_end(missing_start) as last_end,
    from incidents
),

steps as (
    select child_id, first_end as month_end, kind, 1 as step from ranges
    where first_end <= last_end
    union all
    select child_id, next_month_end(last_end) as month_end, kind, -1 as step from ranges
    where first_end <= last_end and last_end < date '9999-12-31'
),

changes as (
    select
        child_id,
        month_end,
        sum(step) filter (where kind = 'looked_after') as looked_after_step,
        sum(step) filter (where kind = 'missing') as missing_step,
    from steps
    group by child_id, month_end
),

states as (
    select
        child_id,
        month_end as first_end,
        coalesce(month_end_before(lead(month_end) over child_order), date '9999-12-31') as last_end,
        sum(coalesce(looked_after_step, 0)) over child_order as looked_after,
        sum(coalesce(missing_step, 0)) over child_order as missing,
    from changes
    window child_order as (partition by child_id order by month_end rows unbounded preceding)
),

final as (
    select child_id, first_end, last_end, missing > 0 as flag,
    from states
    where looked_after > 0
)

select * from final
