-- adoption_entry_to_placed_days_3y (DOMAIN.md §3b; LAIT and ChAT A1): at 31 March Y of each
-- SSDA903 return, the children adopted (an episode ending with REC E11 or E12) in the 3 years
-- to it, (31 March Y - 3 years, 31 March Y]. numerator: the days from the start of each one's
-- period of care to their PlacedAdoption DATE_PLACED (the latest on or before the adoption and
-- not before the period began), added up; denominator: how many children; value: the mean. A
-- child adopted with no such DATE_PLACED is left out.
with periods as (
    select period_end from int_ssda903_periods
    where month(period_end) = 3
),

episodes as (
    select * from int_care_episode_periods
),

decisions as (
    select distinct child_id, placed_decision_date from stg_ssda903_placed_adoption
    where child_id is not null and placed_decision_date is not null
),

adoptions as (
    select child_id, dec as adopted_on, period_start,
    from episodes
    where rec in ('E11', 'E12') and dec is not null
),

timed as (
    select
        adoptions.child_id,
        adoptions.adopted_on,
        max(decisions.placed_decision_date) - adoptions.period_start as days_to_placed,
    from adoptions
    inner join decisions
        on decisions.child_id = adoptions.child_id
        and decisions.placed_decision_date between adoptions.period_start and adoptions.adopted_on
    group by adoptions.child_id, adoptions.adopted_on, adoptions.period_start
),

final as (
    select
        periods.period_end,
        'all' as breakdown,
        'all' as breakdown_value,
        coalesce(sum(timed.days_to_placed), 0) as numerator,
        count(timed.child_id) as denominator,
        case when count(timed.child_id) > 0 then sum(timed.days_to_placed) / count(timed.child_id) end as value,
    from periods
    left join timed
        on timed.adopted_on > periods.period_end - interval 3 year
        and timed.adopted_on <= periods.period_end
    group by periods.period_end
)

select * from final
