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

-- A client enrolled in two programmes is one client in every breakdown but 'program'.
clients as (
    select
        period_end,
        client_id,
        'all' as "all",
        any_value(age_band) as age_band,
        any_value(sex) as sex,
        any_value(ethnicity) as ethnicity,
        any_value(locality) as locality,
    from served
    group by period_end, client_id
),

client_breakdowns as (
    unpivot clients
    on "all", age_band, sex, ethnicity, locality
    into name breakdown value breakdown_value
),

program_breakdowns as (
    select
        period_end,
        client_id,
        'program' as breakdown,
        program as breakdown_value,
    from served
),

long as (
    select period_end, client_id, breakdown, breakdown_value from client_breakdowns
    union all
    select period_end, client_id, breakdown, breakdown_value from program_breakdowns
),

breakdown_values as (
    select distinct breakdown, breakdown_value from long
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

-- clients and program_breakdowns have one row per client (and programme) and month end,
-- so count(*) counts each once.
counts as (
    select
        period_end,
        breakdown,
        breakdown_value,
        count(*) as clients,
    from long
    group by period_end, breakdown, breakdown_value
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
