-- program_improved_pct: one row per month end the case export covers and breakdown value; of
-- the clients with 2 or more assessments on enrolments of a programme whose latest assessment
-- (by the day) is dated in the 12 months ending on it, the % whose latest total score is better
-- than their first (see int_program_assessment_outcomes). Breakdowns: program, and the client's
-- age band at X, sex, ethnicity and locality; 'all' counts each client once per programme.
with periods as (
    select * from int_case_periods
),

outcomes as (
    select * from int_program_assessment_outcomes
),

members as (
    select
        period_end,
        client_id,
        is_improved,
        program,
        age_band,
        sex,
        ethnicity,
        locality,
    from outcomes
),

-- int_program_assessment_outcomes has one row per programme, client and month end,
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
        count_if(is_improved) as improved_clients,
        count(*) as clients,
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
        coalesce(counts.improved_clients, 0) as numerator,
        coalesce(counts.clients, 0) as denominator,
        case
            when coalesce(counts.clients, 0) > 0
                then 100.0 * counts.improved_clients / counts.clients
        end as value,
    from grid
    left join counts
        on counts.period_end = grid.period_end
        and counts.breakdown = grid.breakdown
        and counts.breakdown_value = grid.breakdown_value
)

select * from final
