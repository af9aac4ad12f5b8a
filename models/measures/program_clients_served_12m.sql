-- program_clients_served_12m: one row per month end the case export covers and breakdown value;
-- distinct clients with an enrolment overlapping the 12 months ending on the day (start_date <=
-- X and (end_date null or end_date > X - 1 year)). Breakdowns: program, and the client's age
-- band at X, sex, ethnicity and locality; 'all' counts a client in two programmes once.
-- Counted in int_measure_counts: population clients_served for 'all' and the client's
-- breakdowns, program_clients_served for the programme breakdown.
with counts as (
    select * from int_measure_counts
    where population = 'clients_served'
        or (population = 'program_clients_served' and breakdown = 'program')
),

final as (
    select
        period_end,
        breakdown,
        breakdown_value,
        members as numerator,
        null as denominator,
        members as value,
    from counts
)

select * from final
