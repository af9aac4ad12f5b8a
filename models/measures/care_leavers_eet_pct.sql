-- care_leavers_eet_pct: annual, one row per 31 March Y of each SSDA903 return and breakdown
-- value; of the care leavers in return Y's OC3 turning 19, 20 or 21 in the year (IN_TOUCH DIED
-- and RHOM excluded; see int_care_leavers), the % in education, employment or training (ACTIV
-- F1 P1 F2 P2 F4 P4 F5 P5; F3 P3 in returns before 2022). Breakdowns: sex, ethnicity.
with outcomes as (
    select * from int_care_leaver_outcomes
),

final as (
    select
        period_end,
        breakdown,
        breakdown_value,
        in_eet as numerator,
        care_leavers as denominator,
        case when care_leavers > 0 then 100.0 * in_eet / care_leavers end as value,
    from outcomes
)

select * from final
