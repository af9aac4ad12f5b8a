-- Reference for tests/test_ingest.py, run on a built warehouse: one row per period of care, a
-- chain of episodes joined by REC X1 (a new episode starting the day the last ended), from the
-- first episode's DECOM to the last episode's DEC (null if open). Short breaks (LS V3/V4) are
-- left out, as from every children-looked-after measure.
with episodes as (
    select * from intermediate.int_care_episodes
    where not is_short_break
),

ordered as (
    select
        episodes.*,
        lag(rec) over (partition by child_id order by decom) as previous_rec,
        lag(dec) over (partition by child_id order by decom) as previous_dec,
    from episodes
),

flagged as (
    select
        ordered.*,
        -- A period starts unless the previous episode ended X1 on this episode's start day.
        case when previous_rec = 'X1' and previous_dec = decom then 0 else 1 end as starts_period,
    from ordered
),

numbered as (
    select
        flagged.*,
        sum(starts_period) over (
            partition by child_id order by decom rows between unbounded preceding and current row
        ) as period_number,
    from flagged
),

final as (
    select
        child_id,
        period_number,
        min(decom) as period_start,
        arg_max_null(dec, decom) as period_end,
        arg_max_null(rec, decom) as reason_ended,
        arg_min(rne, decom) as first_rne,
        count(*) as episodes,
        bool_or(is_repaired) as has_repaired_episode,
    from numbered
    group by child_id, period_number
)

select * from final
