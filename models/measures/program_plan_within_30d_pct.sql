-- program_plan_within_30d_pct: one row per month end the case export covers and breakdown value;
-- of the enrolments starting in the 12 months ending on the day and at least 30 days before it,
-- the % with a service plan dated from the start date to 30 days after it. Breakdowns: program,
-- and the client's age band at X, sex, ethnicity and locality.
with periods as (
    select * from int_case_periods
),

enrolments as (
    select * from int_program_plan_timeliness
),

members as (
    select
        period_end,
        enrolment_id,
        has_plan_within_30d,
        program,
        age_band,
        sex,
        ethnicity,
        locality,
    from enrolments
),

-- int_program_plan_timeliness has one row per enrolment and month end,
-- so count(*) counts each once.
-- One grouping set per breakdown reads it once.
counts as (
    select
        period_end,
        case
            when grouping(program) = 0 then 'program'
            when grouping(age_band) = 0 then 'age_band'
            when grouping(sex) = 0 then 'sex'
            when grouping(ethnicity) = 0 then 'ethnicity'
            when grouping(locality) = 0 then 'locality'
            else 'all'
        end as breakdown,
        case
            when grouping(program) = 0 then program
            when grouping(age_band) = 0 then age_band
            when grouping(sex) = 0 then sex
            when grouping(ethnicity) = 0 then ethnicity
            when grouping(locality) = 0 then locality
            else 'all'
        end as breakdown_value,
        count_if(has_plan_within_30d) as timely_enrolments,
        count(*) as enrolments,
    from members
    group by grouping sets (
        (period_end),
        (period_end, program),
        (period_end, age_band),
        (period_end, sex),
        (period_end, ethnicity),
        (period_end, locality)
    )
),

breakdown_values as (
    select distinct breakdown, breakdown_value from counts
    union
    select 'all' as breakdown, 'all' as breakdown_value
),

grid as (
    select
        periods.period_end,
        breakdown_values.breakdown,
        breakdown_values.breakdown_value,
    from periods
    cross join breakdown_values
),

final as (
    select
        grid.period_end,
        grid.breakdown,
        grid.breakdown_value,
        coalesce(counts.timely_enrolments, 0) as numerator,
        coalesce(counts.enrolments, 0) as denominator,
        case
            when coalesce(counts.enrolments, 0) > 0
                then 100.0 * counts.timely_enrolments / counts.enrolments
        end as value,
    from grid
    left join counts
        on counts.period_end = grid.period_end
        and counts.breakdown = grid.breakdown
        and counts.breakdown_value = grid.breakdown_value
)

select * from final
