-- One row per span of month ends X on which a child counts towards long-term placement
-- stability (DOMAIN.md §3b): looked after at X, under 16 at X, in a period of care (consecutive
-- episodes, each starting on the day the one before ended) begun on or before X - 30 months.
-- flag: on those month ends the child's current placement (the latest episode of the period
-- with RNE S, P, B, T or U begun by X) began on or before X - 2 years; or the child is placed
-- for adoption (PLACE A3-A6) and the placement before the adoptive one began by then. Short
-- breaks (LS V3/V4) are not care here (int_care_episode_periods). Each episode gives up to two
-- spans: before and after the month end its placement has lasted two years. decom names the
-- episode: where a child's episodes overlap, int_measure_spans keeps only the month ends on which
-- it is the child's open episode (the latest begun), so the child counts once.
with episodes as (
    select * from int_care_episode_periods
),

children as (
    select child_id, date_of_birth from int_child_attributes
    where source = 'ssda903' and date_of_birth is not null
),

ranged as (
    select
        episodes.child_id,
        episodes.decom,
        greatest(last_day(episodes.decom), first_end_months_after(episodes.period_start, 30)) as first_end,
        least(
            case when episodes.dec is null then date '9999-12-31' else month_end_before(episodes.dec) end,
            month_end_before(age_band_start(children.date_of_birth, 16))
        ) as last_end,
        first_end_months_after(
            case
                when episodes.place in ('A3', 'A4', 'A5', 'A6') and episodes.previous_placement_start is not null
                    then episodes.previous_placement_start
                else episodes.placement_start
            end,
            24
        ) as stable_from,
    from episodes
    inner join children using (child_id)
),

final as (
    select child_id, decom, first_end, least(last_end, coalesce(month_end_before(stable_from), last_end)) as last_end, false as flag,
    from ranged
    where stable_from is null or stable_from > first_end
    union all
    select child_id, decom, greatest(first_end, stable_from) as first_end, last_end, true as flag,
    from ranged
    where stable_from is not null and stable_from <= last_end
)

select * from final
where first_end <= last_end
