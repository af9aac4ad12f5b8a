-- Reference for tests/test_measure_counts.py: one row per population, member and month end on
-- which the member counts, written the plain way (every member joined to every month end)
-- from the definitions in models/measures.yml. int_measure_spans and int_measure_counts compute
-- the same counts from spans; summing the rows here by population, month end and breakdown
-- value must give int_measure_counts exactly. Windows: the 12 months ending on X are
-- (X - 1 year, X]. Short breaks (LS V3/V4) are left out of every looked-after population.
with ssda903_periods as (
    select * from int_ssda903_periods
),

cin_periods as (
    select * from int_cin_periods
),

episodes as (
    select * from int_care_episodes
    where not is_short_break
),

plans as (
    select * from int_cp_plans
),

children as (
    select * from int_child_attributes
),

-- Children of the SSDA903 returns and the CIN census, once for each episode or plan that makes
-- them a member on X:
--   looked_after      an episode open on X (DECOM <= X, DEC blank or after X);
--   cla_starts        an episode with RNE S starting in the 12 months;
--   child_protection  a plan open on X (CPPstartDate <= X, CPPendDate blank or after X).
child_openings as (
    select
        'looked_after' as population, periods.period_end, episodes.child_id,
        episodes.decom as begun, episodes.cin as category_of_need,
        episodes.home_postcode_district as locality,
    from ssda903_periods as periods
    inner join episodes
        on episodes.decom <= periods.period_end
        and coalesce(episodes.dec, date '9999-12-31') > periods.period_end
    union all
    select
        'cla_starts', periods.period_end, episodes.child_id, episodes.decom,
        episodes.cin, episodes.home_postcode_district,
    from ssda903_periods as periods
    inner join episodes
        on episodes.rne = 'S'
        and episodes.decom > (periods.period_end - interval 1 year)::date
        and episodes.decom <= periods.period_end
    union all
    select
        'child_protection', periods.period_end, plans.child_id, plans.cpp_start_date,
        plans.primary_need_code, null,
    from cin_periods as periods
    inner join plans
        on plans.cpp_start_date <= periods.period_end
        and coalesce(plans.cpp_end_date, date '9999-12-31') > periods.period_end
),

-- One row per child and X: the latest-begun episode or plan gives the category of need and
-- locality.
child_members as (
    select
        population,
        period_end,
        child_id,
        arg_max_null(category_of_need, begun) as category_of_need,
        arg_max_null(locality, begun) as locality,
    from child_openings
    group by population, period_end, child_id
),

-- Flag of looked_after: 3 or more placements in the 12 months, whose first day is
-- W = X - 1 year + 1 day: one for an episode open on W that began before it, plus one for each
-- episode starting in the window with RNE S, P, B, T or U (RNE L, a change of legal status
-- only, is not a placement).
placements as (
    select
        windows.period_end,
        windows.child_id,
        count(*) filter (
            where episodes.decom >= windows.window_start
            and episodes.rne in ('S', 'P', 'B', 'T', 'U')
        )
        + case
            when bool_or(
                episodes.decom < windows.window_start
                and coalesce(episodes.dec, date '9999-12-31') > windows.window_start
            ) then 1
            else 0
        end as placements,
    from (
        select period_end, child_id, (period_end - interval 1 year)::date + 1 as window_start,
        from child_members
        where population = 'looked_after'
    ) as windows
    inner join episodes
        on episodes.child_id = windows.child_id
        and episodes.decom <= windows.period_end
    group by windows.period_end, windows.child_id
),

-- cp_plan_starts: each plan starting in the 12 months; flag: a repeat plan.
cp_plan_starts as (
    select periods.period_end, plans.*,
    from cin_periods as periods
    inner join plans
        on plans.cpp_start_date > (periods.period_end - interval 1 year)::date
        and plans.cpp_start_date <= periods.period_end
),

case_periods as (
    select * from int_case_periods
),

occasions as (
    select * from int_program_assessment_occasions
),

-- program_assessed: a client with 2 or more assessment occasions in the programme by X whose
-- latest by X is dated in the 12 months; flag: its total score is better than the first's.
program_assessed as (
    select periods.period_end, occasions.*,
    from case_periods as periods
    inner join occasions
        on occasions.occasion_number >= 2
        and occasions.assessment_date <= periods.period_end
        and occasions.assessment_date > (periods.period_end - interval 1 year)::date
        and coalesce(occasions.next_assessment_date, date '9999-12-31') > periods.period_end
),

enrolments as (
    select * from int_program_enrolments
),

-- program_plans: an enrolment starting in the 12 months and at least 30 days before X; flag:
-- a service plan within 30 days of the start.
program_plans as (
    select periods.period_end, enrolments.*,
    from case_periods as periods
    inner join enrolments
        on enrolments.start_date > (periods.period_end - interval 1 year)::date
        and enrolments.start_date <= periods.period_end - 30
),

served_spans as (
    select * from int_case_served_spans
),

-- clients_served (in any programme) and program_clients_served (in each): an enrolment
-- overlapping the 12 months, start_date <= X and end_date blank or after X - 1 year, as merged
-- into spans by int_case_served_spans.
served as (
    select periods.period_end, served_spans.*,
    from case_periods as periods
    inner join served_spans
        on served_spans.start_date <= periods.period_end
        and served_spans.end_date > (periods.period_end - interval 1 year)::date
),

-- Members of every population; a member who is a child of the SSDA903 returns, the CIN census
-- or the case export (source, person_id) takes sex, ethnicity and date of birth from the
-- child's newest record, the others carry their own.
member_months as (
    select
        child_members.population,
        child_members.period_end,
        child_members.child_id::varchar as member_id,
        case child_members.population when 'child_protection' then 'cin' else 'ssda903' end
            as source,
        child_members.child_id as person_id,
        null::date as date_of_birth,
        null::varchar as sex,
        null::varchar as ethnicity,
        coalesce(child_members.category_of_need, 'Unknown') as category_of_need,
        case
            when child_members.population <> 'child_protection'
                then coalesce(child_members.locality, 'Unknown')
        end as locality,
        null::varchar as program,
        coalesce(placements.placements >= 3, false) as flag,
    from child_members
    left join placements
        on child_members.population = 'looked_after'
        and placements.period_end = child_members.period_end
        and placements.child_id = child_members.child_id
    union all
    select
        'cp_plan_starts', period_end, concat_ws('/', child_id, cpp_start_date),
        'cin', child_id, null, null, null,
        coalesce(primary_need_code, 'Unknown'), null, null, coalesce(is_repeat, false),
    from cp_plan_starts
    union all
    select
        'program_assessed', program_assessed.period_end,
        concat_ws('/', program_assessed.program, program_assessed.client_id),
        'case', program_assessed.client_id, null, null, null,
        null, coalesce(children.postcode_district, 'Unknown'), program_assessed.program,
        coalesce(program_assessed.is_improved, false),
    from program_assessed
    left join children
        on children.source = 'case'
        and children.child_id = program_assessed.client_id
    union all
    select
        'program_plans', period_end, enrolment_id, null, null, date_of_birth, sex, ethnicity,
        null, locality, program, coalesce(has_plan_within_30d, false),
    from program_plans
    union all
    select
        case when scope = 'client' then 'clients_served' else 'program_clients_served' end,
        period_end, concat_ws('/', program, client_id), null, null, date_of_birth, sex, ethnicity,
        null, locality, program, false,
    from served
),

final as (
    select
        member_months.population,
        member_months.period_end,
        member_months.member_id,
        age_band(
            coalesce(member_months.date_of_birth, children.date_of_birth), member_months.period_end
        ) as age_band,
        coalesce(member_months.sex, children.sex, 'Unknown') as sex,
        coalesce(member_months.ethnicity, children.ethnicity, 'Unknown') as ethnicity,
        member_months.category_of_need,
        member_months.locality,
        member_months.program,
        member_months.flag,
    from member_months
    left join children
        on children.source = member_months.source
        and children.child_id = member_months.person_id
)

select * from final
