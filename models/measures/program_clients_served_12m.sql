-- program_clients_served_12m: one row per month end the case export covers and breakdown value;
-- distinct clients with an enrolment overlapping the 12 months ending on the day (start_date <=
-- X and (end_date null or end_date > X - 1 year)). Breakdowns: program, and the client's age
-- band at X, sex, ethnicity and locality; 'all' counts a client in two programmes once.
with periods as (
    select * from int_case_periods
),

served as (
    select * from int_program_clients_served_12m
),

client_spans as (
    select * from int_case_served_spans
    where scope = 'client'
),

-- A client served by two programmes counts once in the other breakdowns: spans across all of
-- a client's programmes never share a month end, so joining gives one row per client and day.
clients as (
    select
        periods.period_end,
        client_spans.client_id,
        age_band(client_spans.date_of_birth, periods.period_end) as age_band,
        client_spans.sex,
        client_spans.ethnicity,
        client_spans.locality,
    from periods
    inner join client_spans
        on client_spans.start_date <= periods.period_end
        and client_spans.end_date > (periods.period_end - interval 1 year)::date
),

client_counts as (
    select
        period_end,
        case
            when grouping(age_band) = 0 then 'age_band'
            when grouping(sex) = 0 then 'sex'
            when grouping(ethnicity) = 0 then 'ethnicity'
            when grouping(locality) = 0 then 'locality'
            else 'all'
        end as breakdown,
        case
            when grouping(age_band) = 0 then age_band
            when grouping(sex) = 0 then sex
            when grouping(ethnicity) = 0 then ethnicity
            when grouping(locality) = 0 then locality
            else 'all'
        end as breakdown_value,
        count(*) as clients,
    from clients
    group by grouping sets (
        (period_end),
        (period_end, age_band),
        (period_end, sex),
        (period_end, ethnicity),
        (period_end, locality)
    )
),

-- int_program_clients_served_12m has one row per programme, client and month end.
program_counts as (
    select
        period_end,
        'program' as breakdown,
        program as breakdown_value,
        count(*) as clients,
    from served
    group by period_end, program
),

counts as (
    select * from client_counts
    union all
    select * from program_counts
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
        coalesce(counts.clients, 0) as numerator,
        null as denominator,
        coalesce(counts.clients, 0) as value,
    from grid
    left join counts
        on counts.period_end = grid.period_end
        and counts.breakdown = grid.breakdown
        and counts.breakdown_value = grid.breakdown_value
)

select * from final
