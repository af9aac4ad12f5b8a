-- One row per population, month end and breakdown value: how many members the population has
-- on the day (members) and how many of them carry its flag (flagged). Each row of the
-- intermediate a population reads is one member (a child, plan or client as that model says),
-- so count(*) counts each once. One grouping set per breakdown reads every population once.
-- Every month end of the population's source is present for every breakdown value seen in any
-- month (zero when none), and 'all'/'all' always.
--
--   population        members (one row of)                       flag
--   looked_after      int_cla_placements_12m: child on the day    3 or more placements in 12 months
--   cla_starts        int_cla_starts_12m: child starting care     -
--   child_protection  int_cp_snapshot: child on a plan            -
--   cp_plan_starts    int_cp_plan_starts_12m: plan started        a repeat plan
--   program_assessed  int_program_assessment_outcomes: client     improved since the first assessment
--   program_plans     int_program_plan_timeliness: enrolment      a plan within 30 days
--   clients_served    int_case_served_spans (scope client): client served in 12 months, once
--                     however many programmes served them        -
--   program_clients_served  int_program_clients_served_12m: client in a programme (breakdown
--                     program only)                              -
with looked_after as (
    select * from int_cla_placements_12m
),

cla_starts as (
    select * from int_cla_starts_12m
),

child_protection as (
    select * from int_cp_snapshot
),

cp_plan_starts as (
    select * from int_cp_plan_starts_12m
),

program_assessed as (
    select * from int_program_assessment_outcomes
),

program_plans as (
    select * from int_program_plan_timeliness
),

program_clients_served as (
    select * from int_program_clients_served_12m
),

client_spans as (
    select * from int_case_served_spans
    where scope = 'client'
),

periods as (
    select 'ssda903' as periods_of, period_end from int_ssda903_periods
    union all
    select 'cin' as periods_of, period_end from int_cin_periods
    union all
    select 'case' as periods_of, period_end from int_case_periods
),

-- Spans of one client never share a month end: one row per client and day.
clients_served as (
    select
        periods.period_end,
        age_band(client_spans.date_of_birth, periods.period_end) as age_band,
        client_spans.sex,
        client_spans.ethnicity,
        client_spans.locality,
    from periods
    inner join client_spans
        on client_spans.start_date <= periods.period_end
        and client_spans.end_date > (periods.period_end - interval 1 year)::date
    where periods.periods_of = 'case'
),

members as (
    select
        'looked_after' as population, period_end, age_band, sex, ethnicity,
        category_of_need, locality, null::varchar as program, placements >= 3 as flag,
    from looked_after
    union all
    select
        'cla_starts' as population, period_end, age_band, sex, ethnicity,
        category_of_need, locality, null::varchar as program, null::boolean as flag,
    from cla_starts
    union all
    select
        'child_protection' as population, period_end, age_band, sex, ethnicity,
        category_of_need, null::varchar as locality, null::varchar as program, null::boolean as flag,
    from child_protection
    union all
    select
        'cp_plan_starts' as population, period_end, age_band, sex, ethnicity,
        category_of_need, null::varchar as locality, null::varchar as program, is_repeat as flag,
    from cp_plan_starts
    union all
    select
        'program_assessed' as population, period_end, age_band, sex, ethnicity,
        null::varchar as category_of_need, locality, program, is_improved as flag,
    from program_assessed
    union all
    select
        'program_plans' as population, period_end, age_band, sex, ethnicity,
        null::varchar as category_of_need, locality, program, has_plan_within_30d as flag,
    from program_plans
    union all
    select
        'clients_served' as population, period_end, age_band, sex, ethnicity,
        null::varchar as category_of_need, locality, null::varchar as program, null::boolean as flag,
    from clients_served
    union all
    select
        'program_clients_served' as population, period_end, null::varchar as age_band,
        null::varchar as sex, null::varchar as ethnicity, null::varchar as category_of_need,
        null::varchar as locality, program, null::boolean as flag,
    from program_clients_served
),

population_periods as (
    select 'looked_after' as population, 'ssda903' as periods_of
    union all select 'cla_starts', 'ssda903'
    union all select 'child_protection', 'cin'
    union all select 'cp_plan_starts', 'cin'
    union all select 'program_assessed', 'case'
    union all select 'program_plans', 'case'
    union all select 'clients_served', 'case'
    union all select 'program_clients_served', 'case'
),

grouped as (
    select
        population,
        period_end,
        case
            when grouping(age_band) = 0 then 'age_band'
            when grouping(sex) = 0 then 'sex'
            when grouping(ethnicity) = 0 then 'ethnicity'
            when grouping(category_of_need) = 0 then 'category_of_need'
            when grouping(locality) = 0 then 'locality'
            when grouping(program) = 0 then 'program'
            else 'all'
        end as breakdown,
        case
            when grouping(age_band) = 0 then age_band
            when grouping(sex) = 0 then sex
            when grouping(ethnicity) = 0 then ethnicity
            when grouping(category_of_need) = 0 then category_of_need
            when grouping(locality) = 0 then locality
            when grouping(program) = 0 then program
            else 'all'
        end as breakdown_value,
        count(*) as members,
        count_if(flag) as flagged,
    from members
    group by grouping sets (
        (population, period_end),
        (population, period_end, age_band),
        (population, period_end, sex),
        (population, period_end, ethnicity),
        (population, period_end, category_of_need),
        (population, period_end, locality),
        (population, period_end, program)
    )
),

-- A breakdown a population does not have (locality of a child protection plan, say) groups
-- every member under null: dropped here.
counts as (
    select * from grouped
    where breakdown_value is not null
),

breakdown_values as (
    select distinct population, breakdown, breakdown_value from counts
    union
    select population, 'all' as breakdown, 'all' as breakdown_value from population_periods
),

grid as (
    select
        breakdown_values.population,
        periods.period_end,
        breakdown_values.breakdown,
        breakdown_values.breakdown_value,
    from breakdown_values
    inner join population_periods on population_periods.population = breakdown_values.population
    inner join periods on periods.periods_of = population_periods.periods_of
),

final as (
    select
        grid.population,
        grid.period_end,
        grid.breakdown,
        grid.breakdown_value,
        coalesce(counts.members, 0) as members,
        coalesce(counts.flagged, 0) as flagged,
    from grid
    left join counts
        on counts.population = grid.population
        and counts.period_end = grid.period_end
        and counts.breakdown = grid.breakdown
        and counts.breakdown_value = grid.breakdown_value
)

select * from final
