-- One row per span of months in which a client counts as served: the client has an enrolment
-- overlapping the 12 months ending on the month end X (start_date <= X and (end_date null or
-- end_date > X - 1 year)). Spans are merged from enrolments at two scopes: 'program' (one
-- client in one programme) and 'client' (one client in any programme, program null), so each
-- month end falls in at most one span per scope and key: joining month ends to spans gives
-- distinct rows without a distinct over every client and month.
--
-- Two enrolments' served months meet when the first month end on or after the later start
-- is still served by the earlier ones: (last_day(start) - 1 year) < the latest end so far.
with enrolments as (
    select * from int_program_enrolments
),

scopes as (
    select * from (values ('program'), ('client')) as scopes (scope)
),

scoped as (
    select
        scopes.scope,
        case when scopes.scope = 'program' then enrolments.program end as program,
        enrolments.client_id,
        enrolments.start_date,
        coalesce(enrolments.end_date, date '9999-12-31') as end_date,
        enrolments.date_of_birth,
        enrolments.sex,
        enrolments.ethnicity,
        enrolments.locality,
    from enrolments
    cross join scopes
),

ordered as (
    select
        scoped.*,
        max(end_date) over (
            partition by scope, program, client_id
            order by start_date, end_date
            rows between unbounded preceding and 1 preceding
        ) as latest_end_before,
    from scoped
),

islands as (
    select
        ordered.*,
        sum(
            case
                when latest_end_before is null then 1
                when (last_day(start_date) - interval 1 year)::date >= latest_end_before then 1
                else 0
            end
        ) over (
            partition by scope, program, client_id
            order by start_date, end_date
            rows unbounded preceding
        ) as span_number,
    from ordered
),

final as (
    select
        scope,
        program,
        client_id,
        span_number,
        min(start_date) as start_date,
        max(end_date) as end_date,
        any_value(date_of_birth) as date_of_birth,
        any_value(sex) as sex,
        any_value(ethnicity) as ethnicity,
        any_value(locality) as locality,
    from islands
    group by scope, program, client_id, span_number
)

select * from final
