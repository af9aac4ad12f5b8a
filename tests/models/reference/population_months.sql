-- Reference for tests/test_measure_counts.py: one row per population, member and month end on
-- which the member counts, written the plain way (every member joined to every month end)
-- from the definitions in models/measures.yml and DOMAIN.md §2-3. int_measure_spans and
-- int_measure_counts compute the same counts from spans; summing the rows here by population,
-- month end and breakdown value must give int_measure_counts exactly. Windows: the 12 months
-- ending on X are (X - 1 year, X].
-- Everything is read from the staged tables (stg_*), the month ends and bank holidays, never
-- from a production intermediate: the newest return's version of each repeated record, the
-- repair of an open episode absent from later returns, short breaks (LS V3/V4, left out of
-- every looked-after population), repeat plans, the children's attributes, enrolments and the
-- assessment occasions are all derived here. The reliable change criterion of each configured
-- tool comes from the test (ref_reliable_change, computed in Python).
-- Ages come from ref_age_years / ref_age_band, plain Python functions the test registers
-- (never the production macros).
with ssda903_periods as (
    select * from int_ssda903_periods
),

cin_periods as (
    select * from int_cin_periods
),

-- A record is newer than another of the same key when its return's collection year is later,
-- then its file, then its row (the case export has files and rows only).
episode_rows as (
    select * from stg_ssda903_episodes
    where child_id is not null and decom is not null
),

-- An episode (child + DECOM) as the newest return that has it gives it.
newest_episodes as (
    select * from episode_rows as row
    where not exists (
        select 1 from episode_rows as other
        where other.child_id = row.child_id and other.decom = row.decom
            and (other.collection_year, other.source_file, other.source_row_number)
                > (row.collection_year, row.source_file, row.source_row_number)
    )
),

-- An episode left open in a return older than the newest return of all is closed on the
-- child's next episode's DECOM, or else on 1 April after that return's 31 March.
all_episodes as (
    select
        newest.child_id, newest.decom, newest.rne, newest.ls, newest.cin, newest.place,
        newest.home_postcode_district,
        case
            when newest.dec is null
                and newest.collection_year < (select max(collection_year) from episode_rows)
                then coalesce(
                    (
                        select min(next.decom) from newest_episodes as next
                        where next.child_id = newest.child_id and next.decom > newest.decom
                    ),
                    make_date(newest.collection_year, 4, 1)
                )
            else newest.dec
        end as dec,
    from newest_episodes as newest
),

-- Every episode but a short break (an agreed series of short breaks: LS V3 or V4).
episodes as (
    select * from all_episodes
    where ls is null or ls not in ('V3', 'V4')
),

-- A plan (child + CPPstartDate) as the newest census that has it gives it; a repeat when the
-- child has a plan with an earlier CPPstartDate in the data or NumberOfPreviousCPP > 0.
plan_rows as (
    select * from stg_cp_plans
    where child_id is not null and cpp_start_date is not null
),

plans as (
    select
        row.*,
        exists (
            select 1 from plan_rows as earlier
            where earlier.child_id = row.child_id and earlier.cpp_start_date < row.cpp_start_date
        ) or coalesce(row.number_of_previous_cpp, 0) > 0 as is_repeat,
    from plan_rows as row
    where not exists (
        select 1 from plan_rows as other
        where other.child_id = row.child_id and other.cpp_start_date = row.cpp_start_date
            and (other.collection_year, other.source_file, other.source_row_number)
                > (row.collection_year, row.source_file, row.source_row_number)
    )
),

-- Each child of each source as its newest record gives it: the SSDA903 header or CIN census
-- child of the newest return, the case export's client row of the newest file; sex M and F
-- labelled, anything else Unknown; ethnicity in DfE major groups.
child_records as (
    select 'ssda903' as source, child_id, date_of_birth, sex, ethnic_code, null as postcode_district,
        collection_year, source_file, source_row_number,
    from stg_ssda903_header
    union all
    select 'cin', child_id, date_of_birth, sex, ethnic_code, null, collection_year, source_file,
        source_row_number,
    from stg_cin_children
    union all
    select 'case', client_id, date_of_birth, sex, ethnic_code, postcode_district, 0, source_file,
        source_row_number,
    from stg_case_clients
),

children as (
    select
        row.source,
        row.child_id,
        row.date_of_birth,
        case row.sex when 'M' then 'Male' when 'F' then 'Female' else 'Unknown' end as sex,
        case
            when row.ethnic_code = 'REFU' then 'Refused'
            when row.ethnic_code = 'NOBT' then 'Information not yet obtained'
            when row.ethnic_code like 'W___' then 'White'
            when row.ethnic_code like 'M___' then 'Mixed'
            when row.ethnic_code like 'A___' then 'Asian or Asian British'
            when row.ethnic_code like 'B___' then 'Black or Black British'
            when row.ethnic_code like 'O___' or row.ethnic_code = 'CHNE' then 'Other ethnic groups'
            else 'Unknown'
        end as ethnicity,
        row.postcode_district,
    from child_records as row
    where row.child_id is not null
        and not exists (
            select 1 from child_records as other
            where other.source = row.source and other.child_id = row.child_id
                and (other.collection_year, other.source_file, other.source_row_number)
                    > (row.collection_year, row.source_file, row.source_row_number)
        )
),

-- The England and Wales bank holidays, as one list.
holidays as (
    select list(distinct holiday_date) as days from bank_holidays
),

-- Repeated records of the CIN census (an episode of need: child + CINreferralDate; an
-- assessment: child + AssessmentActualStartDate; an enquiry: child + S47ActualStartDate) and
-- SSDA903 (UASC: child; OC2: child within one return): the row of the newest return, i.e. the
-- row no other row of the same record is newer than (collection year, then file, then row).
need_episodes as (
    select * from stg_cin_details as row
    where row.child_id is not null and row.referral_date is not null
        and not exists (
            select 1 from stg_cin_details as other
            where other.child_id = row.child_id and other.referral_date = row.referral_date
                and (other.collection_year, other.source_file, other.source_row_number)
                    > (row.collection_year, row.source_file, row.source_row_number)
        )
),

cin_assessments as (
    select * from stg_cin_assessments as row
    where row.child_id is not null and row.assessment_start_date is not null
        and not exists (
            select 1 from stg_cin_assessments as other
            where other.child_id = row.child_id
                and other.assessment_start_date = row.assessment_start_date
                and (other.collection_year, other.source_file, other.source_row_number)
                    > (row.collection_year, row.source_file, row.source_row_number)
        )
),

enquiries as (
    select * from stg_cin_section47 as row
    where row.child_id is not null and row.s47_start_date is not null
        and not exists (
            select 1 from stg_cin_section47 as other
            where other.child_id = row.child_id and other.s47_start_date = row.s47_start_date
                and (other.collection_year, other.source_file, other.source_row_number)
                    > (row.collection_year, row.source_file, row.source_row_number)
        )
),

uasc as (
    select * from stg_ssda903_uasc as row
    where row.child_id is not null
        and not exists (
            select 1 from stg_ssda903_uasc as other
            where other.child_id = row.child_id
                and (other.collection_year, other.source_file, other.source_row_number)
                    > (row.collection_year, row.source_file, row.source_row_number)
        )
),

oc2 as (
    select * from stg_ssda903_oc2 as row
    where row.child_id is not null and row.collection_year is not null
        and not exists (
            select 1 from stg_ssda903_oc2 as other
            where other.child_id = row.child_id and other.collection_year = row.collection_year
                and (other.source_file, other.source_row_number)
                    > (row.source_file, row.source_row_number)
        )
),

-- Children of the SSDA903 returns and the CIN census, once for each episode or plan that makes
-- them a member on X:
--   looked_after      an episode open on X (DECOM <= X, DEC blank or after X);
--   cla_starts        an episode with RNE S starting in the 12 months;
--   child_protection  a plan open on X (CPPstartDate <= X, CPPendDate blank or after X);
--   children_in_need  an episode of need open on X (CINreferralDate <= X, CINclosureDate
--                     blank or after X), not a referral with no further action.
child_openings as (
    select
        'looked_after' as population, periods.period_end, episodes.child_id,
        episodes.decom as begun, episodes.cin as category_of_need,
        episodes.home_postcode_district as locality,
        legal_status_group(episodes.ls) as legal_status,
        placement_type_group(episodes.place) as placement_type,
        null as category_of_abuse,
    from ssda903_periods as periods
    inner join episodes
        on episodes.decom <= periods.period_end
        and coalesce(episodes.dec, date '9999-12-31') > periods.period_end
    union all
    select
        'cla_starts', periods.period_end, episodes.child_id, episodes.decom,
        episodes.cin, episodes.home_postcode_district, null, null, null,
    from ssda903_periods as periods
    inner join episodes
        on episodes.rne = 'S'
        and episodes.decom > (periods.period_end - interval 1 year)::date
        and episodes.decom <= periods.period_end
    union all
    select
        'child_protection', periods.period_end, plans.child_id, plans.cpp_start_date,
        plans.primary_need_code, null, null, null,
        coalesce(plans.latest_category_of_abuse, plans.initial_category_of_abuse, 'Unknown'),
    from cin_periods as periods
    inner join plans
        on plans.cpp_start_date <= periods.period_end
        and coalesce(plans.cpp_end_date, date '9999-12-31') > periods.period_end
    union all
    select
        'children_in_need', periods.period_end, need_episodes.child_id,
        need_episodes.referral_date, need_episodes.primary_need_code, null, null, null, null,
    from cin_periods as periods
    inner join need_episodes
        on need_episodes.referral_date <= periods.period_end
        and coalesce(need_episodes.closure_date, date '9999-12-31') > periods.period_end
        and need_episodes.referral_nfa is not true
),

-- One row per child and X: the latest-begun episode or plan gives the category of need,
-- locality, legal status, placement type and category of abuse.
child_members as (
    select
        population,
        period_end,
        child_id,
        max(begun) as begun,
        arg_max_null(category_of_need, begun) as category_of_need,
        arg_max_null(locality, begun) as locality,
        arg_max_null(legal_status, begun) as legal_status,
        arg_max_null(placement_type, begun) as placement_type,
        arg_max_null(category_of_abuse, begun) as category_of_abuse,
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

-- Events of the CIN census, each counted in the 12 months after it (the windows holding it):
--   referrals               an episode of need (NFA included) referred in the 12 months; flag:
--                           the child has another referral dated before it and on or after its
--                           date - 1 year;
--   assessments_authorised  an assessment (start date given) authorised in the 12 months; flag:
--                           authorised within 45 working days of its start;
--   s47_enquiries           an enquiry started in the 12 months;
--   initial_conferences     an enquiry's conference held in the 12 months (ICPCnotRequired not
--                           true); flag: held within 15 working days of the enquiry's start;
--   cp_plan_ends            a plan ended in the 12 months; flag: it ended on or after its 2nd
--                           anniversary.
-- Working days from S to E: the days after S up to E inclusive, Monday to Friday, not a bank
-- holiday.
referrals as (
    select
        periods.period_end, need_episodes.*,
        exists (
            select 1 from need_episodes as earlier
            where earlier.child_id = need_episodes.child_id
                and earlier.referral_date < need_episodes.referral_date
                and earlier.referral_date >= need_episodes.referral_date - interval 1 year
        ) as is_rereferral,
    from cin_periods as periods
    inner join need_episodes
        on need_episodes.referral_date > (periods.period_end - interval 1 year)::date
        and need_episodes.referral_date <= periods.period_end
),

assessments_authorised as (
    select
        periods.period_end, cin_assessments.*,
        len(list_filter(
            generate_series(
                (cin_assessments.assessment_start_date + 1)::timestamp,
                cin_assessments.assessment_authorisation_date::timestamp,
                interval 1 day
            ),
            lambda day: isodow(day) <= 5 and not list_contains(holidays.days, day::date)
        )) as working_days,
    from cin_periods as periods
    inner join cin_assessments
        on cin_assessments.assessment_authorisation_date > (periods.period_end - interval 1 year)::date
        and cin_assessments.assessment_authorisation_date <= periods.period_end
    cross join holidays
),

s47_enquiries as (
    select periods.period_end, enquiries.*,
    from cin_periods as periods
    inner join enquiries
        on enquiries.s47_start_date > (periods.period_end - interval 1 year)::date
        and enquiries.s47_start_date <= periods.period_end
),

initial_conferences as (
    select
        periods.period_end, enquiries.*,
        len(list_filter(
            generate_series(
                (enquiries.s47_start_date + 1)::timestamp, enquiries.icpc_date::timestamp, interval 1 day
            ),
            lambda day: isodow(day) <= 5 and not list_contains(holidays.days, day::date)
        )) as working_days,
    from cin_periods as periods
    inner join enquiries
        on enquiries.icpc_date > (periods.period_end - interval 1 year)::date
        and enquiries.icpc_date <= periods.period_end
        and enquiries.icpc_not_required is not true
    cross join holidays
),

cp_plan_ends as (
    select periods.period_end, plans.*,
    from cin_periods as periods
    inner join plans
        on plans.cpp_end_date > (periods.period_end - interval 1 year)::date
        and plans.cpp_end_date <= periods.period_end
),

-- Periods of care: an episode whose DECOM is not the DEC of the episode before it (the one
-- with the latest earlier DECOM) begins a period; every episode belongs to the period begun by
-- the latest such episode on or before its DECOM.
episode_links as (
    select
        episodes.*,
        (
            select arg_max_null(previous.dec, previous.decom) from episodes as previous
            where previous.child_id = episodes.child_id and previous.decom < episodes.decom
        ) as previous_dec,
        exists (
            select 1 from episodes as previous
            where previous.child_id = episodes.child_id and previous.decom < episodes.decom
        ) as has_previous,
    from episodes
),

episodes_in_periods as (
    select
        episode_links.*,
        (
            select max(starter.decom) from episode_links as starter
            where starter.child_id = episode_links.child_id
                and starter.decom <= episode_links.decom
                and (not starter.has_previous or starter.previous_dec is distinct from starter.decom)
        ) as period_start,
    from episode_links
),

-- long_term_looked_after: a child looked after on X (the latest-begun open episode), under 16
-- on X, whose period of care began on or before X - 30 months; flag: the child's placement (the
-- latest episode of the period with RNE S, P, B, T or U and DECOM <= X) began on or before
-- X - 2 years, or the open episode is a placement for adoption (PLACE A3-A6) and the placement
-- before that one began on or before X - 2 years.
long_term as (
    select
        looked_after.period_end,
        looked_after.child_id,
        current.place,
        current.period_start,
        (
            select max(placement.decom) from episodes_in_periods as placement
            where placement.child_id = current.child_id
                and placement.period_start = current.period_start
                and placement.rne in ('S', 'P', 'B', 'T', 'U')
                and placement.decom <= looked_after.period_end
        ) as placement_start,
    from child_members as looked_after
    inner join episodes_in_periods as current
        on current.child_id = looked_after.child_id
        and current.decom = looked_after.begun
    inner join children
        on children.source = 'ssda903'
        and children.child_id = looked_after.child_id
    where looked_after.population = 'looked_after'
        and children.date_of_birth is not null
        and ref_age_years(children.date_of_birth, looked_after.period_end) < 16
        and current.period_start <= (looked_after.period_end - interval 30 month)::date
),

long_term_flagged as (
    select
        long_term.period_end,
        long_term.child_id,
        long_term.placement_start <= (long_term.period_end - interval 2 year)::date
        or (
            long_term.place in ('A3', 'A4', 'A5', 'A6')
            and (
                select max(previous.decom) from episodes_in_periods as previous
                where previous.child_id = long_term.child_id
                    and previous.rne in ('S', 'P', 'B', 'T', 'U')
                    and previous.period_start = long_term.period_start
                    and previous.decom < long_term.placement_start
            ) <= (long_term.period_end - interval 2 year)::date
        ) as flag,
    from long_term
),

-- looked_after_in_year: a child with an episode open on some day of the 12 months (DECOM <= X,
-- DEC blank or after the window's first day X - 1 year + 1 day); flag: a Missing row with
-- MISSING = M starting in the 12 months.
looked_after_in_year as (
    select
        periods.period_end,
        episodes.child_id,
        exists (
            select 1 from stg_ssda903_missing as missing
            where missing.child_id = episodes.child_id
                and missing.missing_type = 'M'
                and missing.missing_start > (periods.period_end - interval 1 year)::date
                and missing.missing_start <= periods.period_end
        ) as flag,
    from ssda903_periods as periods
    inner join episodes
        on episodes.decom <= periods.period_end
        and coalesce(episodes.dec, date '9999-12-31') > (periods.period_end - interval 1 year)::date + 1
    group by all
),

-- uasc_looked_after: a child looked after on X whose UASC row (of the newest return) has DUC
-- blank or after X.
uasc_looked_after as (
    select looked_after.period_end, looked_after.child_id,
    from child_members as looked_after
    inner join uasc
        on uasc.child_id = looked_after.child_id
        and coalesce(uasc.uasc_ceased_date, date '9999-12-31') > looked_after.period_end
    where looked_after.population = 'looked_after'
),

-- oc2_*: the children of a return's OC2 table, on that return's 31 March; flags:
-- HEALTH_ASSESSMENT = 1, TEETH_CHECK = 1, SDQ_SCORE given.
oc2_children as (
    select periods.period_end, oc2.*,
    from ssda903_periods as periods
    inner join oc2
        on periods.period_end = make_date(oc2.collection_year, 3, 31)
),

case_periods as (
    select * from int_case_periods
),

-- An enrolment as the newest row of the case export gives it (an id, a programme and a start
-- date given), with its client's attributes and whether a service plan is dated from its start
-- date to 30 days after it.
enrolment_rows as (
    select * from stg_case_enrolments
    where coalesce(enrolment_id, '') <> '' and coalesce(program, '') <> '' and start_date is not null
),

enrolments as (
    select
        row.enrolment_id, row.client_id, row.program, row.start_date, row.end_date,
        exists (
            select 1 from stg_case_service_plans as plan
            where plan.enrolment_id = row.enrolment_id
                and plan.plan_date >= row.start_date and plan.plan_date <= row.start_date + 30
        ) as has_plan_within_30d,
        clients.date_of_birth,
        coalesce(clients.sex, 'Unknown') as sex,
        coalesce(clients.ethnicity, 'Unknown') as ethnicity,
        coalesce(clients.postcode_district, 'Unknown') as locality,
    from enrolment_rows as row
    left join children as clients
        on clients.source = 'case' and clients.child_id = row.client_id
    where not exists (
        select 1 from enrolment_rows as other
        where other.enrolment_id = row.enrolment_id
            and (other.source_file, other.source_row_number) > (row.source_file, row.source_row_number)
    )
),

-- An assessment (distinct assessment_id) of a client on an enrolment of a programme: its date,
-- total score (sum over domains), direction and tool (matched ignoring case and surrounding
-- spaces).
assessments as (
    select
        enrolments.program,
        enrolments.client_id,
        rows.assessment_id,
        min(rows.assessment_date) as assessment_date,
        sum(rows.score) as total_score,
        bool_and(rows.higher_is_better) as higher_is_better,
        min(lower(trim(rows.tool))) as tool,
    from stg_case_assessments as rows
    inner join enrolments on enrolments.enrolment_id = rows.enrolment_id
    where coalesce(rows.assessment_id, '') <> '' and rows.assessment_date is not null
    group by all
),

-- program_assessed: a client with 2 or more assessments in the programme dated by X whose
-- latest is dated in the 12 months; flag: the latest's total is better than the first's
-- (higher if higher_is_better, else lower; a tie is not better). Of assessments on the same
-- day, the one with the greater assessment_id is the later.
-- program_reliable_change: the same clients; flag: better by more than the reliable change
-- criterion of the latest assessment's tool (equal is not enough), or, for a tool without
-- one, better.
assessed as (
    select
        periods.period_end,
        assessments.program,
        assessments.client_id,
        first(assessments.total_score order by assessments.assessment_date, assessments.assessment_id)
            as first_total,
        last(assessments.total_score order by assessments.assessment_date, assessments.assessment_id)
            as latest_total,
        last(assessments.higher_is_better order by assessments.assessment_date, assessments.assessment_id)
            as higher_is_better,
        last(assessments.tool order by assessments.assessment_date, assessments.assessment_id) as tool,
    from case_periods as periods
    inner join assessments
        on assessments.assessment_date <= periods.period_end
    group by periods.period_end, assessments.program, assessments.client_id
    having count(*) >= 2 and max(assessments.assessment_date) > (periods.period_end - interval 1 year)::date
),

program_assessed as (
    select
        assessed.period_end,
        assessed.program,
        assessed.client_id,
        gains.gain > 0 as is_improved,
        case
            when criteria.criterion is null then gains.gain > 0
            else gains.gain > criteria.criterion
        end as is_reliably_improved,
    from assessed
    cross join lateral (
        select
            case
                when assessed.higher_is_better then assessed.latest_total - assessed.first_total
                else assessed.first_total - assessed.latest_total
            end as gain
    ) as gains
    left join ref_reliable_change as criteria on criteria.tool = assessed.tool
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

-- clients_served (in any programme) and program_clients_served (in each): a client with an
-- enrolment overlapping the 12 months, start_date <= X and end_date blank or after X - 1 year.
served as (
    select
        periods.period_end, scopes.scope,
        case when scopes.scope = 'program' then enrolments.program end as program,
        enrolments.client_id,
        any_value(enrolments.date_of_birth) as date_of_birth,
        any_value(enrolments.sex) as sex,
        any_value(enrolments.ethnicity) as ethnicity,
        any_value(enrolments.locality) as locality,
    from case_periods as periods
    inner join enrolments
        on enrolments.start_date <= periods.period_end
        and coalesce(enrolments.end_date, date '9999-12-31') > (periods.period_end - interval 1 year)::date
    cross join (values ('program'), ('client')) as scopes (scope)
    group by all
),

-- Members of every population; a member who is a child of the SSDA903 returns, the CIN census
-- or the case export (source, person_id) takes sex, ethnicity and date of birth from the
-- child's newest record, the others carry their own.
member_months as (
    select
        child_members.population,
        child_members.period_end,
        child_members.child_id::varchar as member_id,
        case
            when child_members.population in ('child_protection', 'children_in_need') then 'cin'
            else 'ssda903'
        end as source,
        child_members.child_id as person_id,
        null::date as date_of_birth,
        null::varchar as sex,
        null::varchar as ethnicity,
        coalesce(child_members.category_of_need, 'Unknown') as category_of_need,
        case
            when child_members.population in ('looked_after', 'cla_starts')
                then coalesce(child_members.locality, 'Unknown')
        end as locality,
        child_members.legal_status,
        child_members.placement_type,
        child_members.category_of_abuse,
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
        coalesce(primary_need_code, 'Unknown'), null, null, null, null, null, coalesce(is_repeat, false),
    from cp_plan_starts
    union all
    select
        'referrals', period_end, concat_ws('/', child_id, referral_date),
        'cin', child_id, null, null, null,
        coalesce(primary_need_code, 'Unknown'), null, null, null, null, null, is_rereferral,
    from referrals
    union all
    select
        'assessments_authorised', period_end, concat_ws('/', child_id, assessment_start_date),
        'cin', child_id, null, null, null, null, null, null, null, null, null, working_days <= 45,
    from assessments_authorised
    union all
    select
        's47_enquiries', period_end, concat_ws('/', child_id, s47_start_date),
        'cin', child_id, null, null, null, null, null, null, null, null, null, false,
    from s47_enquiries
    union all
    select
        'initial_conferences', period_end, concat_ws('/', child_id, s47_start_date),
        'cin', child_id, null, null, null, null, null, null, null, null, null, working_days <= 15,
    from initial_conferences
    union all
    select
        'cp_plan_ends', period_end, concat_ws('/', child_id, cpp_start_date),
        'cin', child_id, null, null, null,
        coalesce(primary_need_code, 'Unknown'), null, null, null, null, null,
        cpp_end_date >= cpp_start_date + interval 2 year,
    from cp_plan_ends
    union all
    select
        'long_term_looked_after', period_end, child_id, 'ssda903', child_id, null, null, null,
        null, null, null, null, null, null, coalesce(flag, false),
    from long_term_flagged
    union all
    select
        'looked_after_in_year', period_end, child_id, 'ssda903', child_id, null, null, null,
        null, null, null, null, null, null, flag,
    from looked_after_in_year
    union all
    select
        'uasc_looked_after', period_end, child_id, 'ssda903', child_id, null, null, null,
        null, null, null, null, null, null, false,
    from uasc_looked_after
    union all
    select
        unnest(['oc2_health_assessment', 'oc2_teeth_check', 'oc2_sdq_recorded']), period_end,
        child_id, 'ssda903', child_id, null, null, null, null, null, null, null, null, null,
        unnest([health_assessment is true, teeth_check is true, sdq_score is not null]),
    from oc2_children
    union all
    select
        'program_assessed', program_assessed.period_end,
        concat_ws('/', program_assessed.program, program_assessed.client_id),
        'case', program_assessed.client_id, null, null, null,
        null, coalesce(children.postcode_district, 'Unknown'), null, null, null, program_assessed.program,
        coalesce(program_assessed.is_improved, false),
    from program_assessed
    left join children
        on children.source = 'case'
        and children.child_id = program_assessed.client_id
    union all
    select
        'program_reliable_change', program_assessed.period_end,
        concat_ws('/', program_assessed.program, program_assessed.client_id),
        'case', program_assessed.client_id, null, null, null,
        null, coalesce(children.postcode_district, 'Unknown'), null, null, null, program_assessed.program,
        coalesce(program_assessed.is_reliably_improved, false),
    from program_assessed
    left join children
        on children.source = 'case'
        and children.child_id = program_assessed.client_id
    union all
    select
        'program_plans', period_end, enrolment_id, null, null, date_of_birth, sex, ethnicity,
        null, locality, null, null, null, program, coalesce(has_plan_within_30d, false),
    from program_plans
    union all
    select
        case when scope = 'client' then 'clients_served' else 'program_clients_served' end,
        period_end, concat_ws('/', program, client_id), null, null, date_of_birth, sex, ethnicity,
        null, locality, null, null, null, program, false,
    from served
),

final as (
    select
        member_months.population,
        member_months.period_end,
        member_months.member_id,
        ref_age_band(
            coalesce(member_months.date_of_birth, children.date_of_birth), member_months.period_end
        ) as age_band,
        coalesce(member_months.sex, children.sex, 'Unknown') as sex,
        coalesce(member_months.ethnicity, children.ethnicity, 'Unknown') as ethnicity,
        member_months.category_of_need,
        member_months.locality,
        member_months.legal_status,
        member_months.placement_type,
        member_months.category_of_abuse,
        member_months.program,
        member_months.flag,
    from member_months
    left join children
        on children.source = member_months.source
        and children.child_id = member_months.person_id
)

select * from final
