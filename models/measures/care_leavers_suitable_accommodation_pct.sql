-- care_leavers_suitable_accommodation_pct: annual, one row per 31 March Y of each SSDA903
-- return and breakdown value; of the care leavers in return Y's OC3 turning 19, 20 or 21 in
-- the year (IN_TOUCH DIED and RHOM excluded; see int_care_leavers), the % in suitable
-- accommodation (ACCOM ends in 1). Breakdowns: sex, ethnicity.
with outcomes as (
    select * from int_care_leaver_outcomes
),

final as (
    select
        period_end,
        breakdown,
        breakdown_value,
        in_suitable_accommodation as numerator,
        care_leavers as denominator,
        case when care_leavers > 0 then 100.0 * in_suitable_accommodation / care_leavers end as value,
    from outcomes
)

select * from final
