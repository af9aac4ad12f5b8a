-- One row per member span of a population that int_measure_counts counts: the member (a child,
-- plan, enrolment or client, as the population says) counts on every month end from first_end
-- to last_end, with these breakdown values and flag. The age band is not here: it changes
-- with the month end, and int_measure_counts splits spans at the child's birthdays.
--
-- Each population is a set of members per month end, as the catalogue defines it
-- (models/measures.yml); a span stands for one member over consecutive month ends, so the cost
-- follows episodes, plans and enrolments rather than months. Populations are listed in
-- measure_populations() (models/macros.sql).
--
--   population              member                  span of one
--   looked_after            child looked after      child, while in care with the same open
--                                                   episode and placement flag (3 or more
--                                                   placements in the 12 months)
--   cla_starts              child starting care     start (RNE S), until 12 months on or the
--                                                   child's next start
--   child_protection        child on a plan         child, while on a plan with the same
--                                                   latest-starting open plan
--   cp_plan_starts          plan starting           plan, for 12 months from its start (flag:
--                                                   a repeat plan)
--   program_assessed        programme and client    occasion (2nd or later), for 12 months or
--                                                   until the next occasion (flag: improved)
--   program_reliable_change programme and client    as program_assessed (flag: reliably
--                                                   improved, int_program_assessment_occasions)
--   program_plans           enrolment               enrolment, from 30 days after its start to
--                                                   12 months after it (flag: plan in 30 days)
--   clients_served          client                  span served (int_case_served_spans), in
--                                                   any programme
--   program_clients_served  programme and client    span served, in one programme
--   children_in_need        child in need           child, while an episode of need (not a
--                                                   referral with no further action) is open
--   referrals               referral                referral, for 12 months (flag: a re-referral)
--   assessments_authorised  assessment              authorisation, for 12 months (flag: within
--                                                   45 working days of its start)
--   s47_enquiries           section 47 enquiry      start, for 12 months
--   initial_conferences     conference held         conference, for 12 months (flag: within 15
--                                                   working days of the enquiry's start)
--   cp_plan_ends            plan ending             end, for 12 months (flag: lasted 2 years)
--   long_term_looked_after  child looked after 2.5  int_long_term_stability_spans (flag: in the
--                           years and under 16      same placement for 2 years)
--   looked_after_in_year    child looked after in   int_missing_spans (flag: missing in the 12
--                           the 12 months           months)
--   uasc_looked_after       unaccompanied child     child, while looked after and UASC
--   oc2_health_assessment,  child in the return's   31 March only (flag: health assessment,
--   oc2_teeth_check,        OC2 (looked after 12    teeth check, SDQ score given)
--   oc2_sdq_recorded        months at 31 March)
--
-- Looked after spans carry the legal status and placement type of the open episode; child
-- protection spans the plan's category of abuse (latest, else initial).
--
-- Looked after and child protection follow a child through the month ends on which any of
-- their counts changes (an episode or plan opening or closing, a placement entering or leaving
-- the 12 months); last_end 9999-12-31 is a span still open.
--
-- Month ends: a range open on days [a, b) covers month ends last_day(a) to month_end_before(b);
-- a day d is in the 12 months ending on X, (X - 1 year, X], for X from last_day(d) to
-- window_last_end(d) (models/macros.sql).
-- A table, though one model reads it: a span is one per episode, plan or enrolment rather than
-- per month, and planning this query where it is read cost more than writing its rows.
-- materialized: table
with episodes as (
    select * from int_care_episodes
    where not is_short_break
),

plans as (
    select * from int_cp_plans
),

need_episodes as (
    select * from int_cin_episodes
),

assessments as (
    select * from int_cin_assessments
    where assessment_authorisation_date is not null
),

enquiries as (
    select * from int_cin_section47
),

long_term_spans as (
    select * from int_long_term_stability_spans
),

missing_spans as (
    select * from int_missing_spans
),

-- Unaccompanied children: the newest return's row of each child, UASC until DUC.
uasc as (
    select child_id, uasc_ceased_date from stg_ssda903_uasc
    where child_id is not null
    qualify row_number() over (
        partition by child_id
        order by collection_year desc nulls last, source_file desc, source_row_number desc
    ) = 1
),

oc2 as (
    select * from stg_ssda903_oc2
    where child_id is not null and collection_year is not null
    qualify row_number() over (
        partition by collection_year, child_id
        order by source_file desc, source_row_number desc
    ) = 1
),

occasions as (
    select * from int_program_assessment_occasions
    where occasion_number >= 2
),

enrolments as (
    select * from int_program_enrolments
),

served_spans as (
    select * from int_case_served_spans
),

case_periods as (
    select max(period_end) as last_period from int_case_periods
),

children as (
    select * from int_child_attributes
),

-- Looked after and on a plan ---------------------------------------------------------------

-- Episodes and plans: each is open on [begun, ended), and the latest-starting one open on a
-- day gives the child's values that day.
openings as (
    select
        'ssda903' as source, child_id, decom as begun, coalesce(dec, date '9999-12-31') as ended,
        rne, coalesce(cin, 'Unknown') as category_of_need,
        coalesce(home_postcode_district, 'Unknown') as locality,
        legal_status_group(ls) as legal_status, placement_type_group(place) as placement_type,
        null as category_of_abuse,
    from episodes
    union all
    select
        'cin' as source, child_id, cpp_start_date as begun, coalesce(cpp_end_date, date '9999-12-31') as ended,
        null as rne, coalesce(primary_need_code, 'Unknown') as category_of_need, null as locality,
        null as legal_status, null as placement_type,
        coalesce(latest_category_of_abuse, initial_category_of_abuse, 'Unknown') as category_of_abuse,
    from plans
    union all
    select
        'cin_need' as source, child_id, referral_date as begun, coalesce(closure_date, date '9999-12-31') as ended,
        null as rne, coalesce(primary_need_code, 'Unknown') as category_of_need, null as locality,
        null as legal_status, null as placement_type, null as category_of_abuse,
    from need_episodes
    where not is_nfa
),

-- Children with an opening that begins before the one before it has ended.
overlapping_children as (
    select distinct source, child_id
    from (
        select
            source, child_id, ended,
            lead(begun) over (partition by source, child_id order by begun) as next_begun,
        from openings
    ) as sequenced
    where next_begun is not null and ended > next_begun
),

-- Each opening moves up to three counts of its child, each over one range of month ends:
--   open    looked after or on a plan on the day (begun <= X < ended);
--   started a placement started in the 12 months (RNE S, P, B, T or U; DECOM in the window);
--   placed  placed on the window's first day, W = X - 1 year + 1 day (DECOM < W < DEC).
-- placements(X) = started + (1 if placed > 0).
ranges as (
    select
        source, child_id, begun, 'open' as kind,
        last_day(begun) as first_end,
        month_end_before(ended) as last_end,
    from openings
    union all
    select
        source, child_id, begun, 'started' as kind,
        last_day(begun) as first_end,
        window_last_end(begun) as last_end,
    from openings
    where rne in ('S', 'P', 'B', 'T', 'U')
    union all
    select
        source, child_id, begun, 'placed' as kind,
        next_month_end(window_last_end(begun)) as first_end,
        case when ended = date '9999-12-31' then ended else window_last_end(ended - 1) end as last_end,
    from openings
    where source = 'ssda903'
),

steps as (
    select source, child_id, first_end as month_end, kind, 1 as step, begun from ranges
    where first_end <= last_end
    union all
    select source, child_id, next_month_end(last_end) as month_end, kind, -1 as step, null as begun
    from ranges
    where first_end <= last_end and last_end < date '9999-12-31'
),

-- The counts hold from each month end on which one of them changes to the next such one.
changes as (
    select
        source,
        child_id,
        month_end,
        sum(step) filter (where kind = 'open') as open_step,
        sum(step) filter (where kind = 'started') as started_step,
        sum(step) filter (where kind = 'placed') as placed_step,
        max(begun) filter (where kind = 'open') as begun,
    from steps
    group by source, child_id, month_end
),

states as (
    select
        source,
        child_id,
        month_end as first_end,
        coalesce(month_end_before(lead(month_end) over child_order), date '9999-12-31') as last_end,
        sum(coalesce(open_step, 0)) over child_order as openings,
        sum(coalesce(started_step, 0)) over child_order as started,
        sum(coalesce(placed_step, 0)) over child_order as placed,
        max(begun) over child_order as latest_begun,
    from changes
    window child_order as (partition by source, child_id order by month_end rows unbounded preceding)
),

-- Where a child's openings never overlap, the one open is the latest begun; otherwise the
-- latest-starting one of those open on the state's first month end.
overlapping_owners as (
    select states.source, states.child_id, states.first_end, max(openings.begun) as begun,
    from states
    semi join overlapping_children using (source, child_id)
    inner join openings
        on openings.source = states.source
        and openings.child_id = states.child_id
        and last_day(openings.begun) <= states.first_end
        and month_end_before(openings.ended) >= states.first_end
    where states.openings > 0
    group by states.source, states.child_id, states.first_end
),

open_states as (
    select
        states.* exclude (latest_begun),
        coalesce(overlapping_owners.begun, states.latest_begun) as begun,
    from states
    left join overlapping_owners using (source, child_id, first_end)
    where states.openings > 0
),

-- Looked after (episodes), on a plan (plans) and in need (episodes of need), with the values
-- of the opening that gives them.
open_spans as (
    select
        case open_states.source
            when 'ssda903' then 'looked_after'
            when 'cin' then 'child_protection'
            else 'children_in_need'
        end as population,
        case when open_states.source = 'cin_need' then 'cin' else open_states.source end as source,
        open_states.child_id,
        open_states.first_end,
        open_states.last_end,
        openings.category_of_need,
        openings.locality,
        openings.legal_status,
        openings.placement_type,
        openings.category_of_abuse,
        case
            when open_states.source = 'ssda903'
                then open_states.started + case when open_states.placed > 0 then 1 else 0 end >= 3
        end as flag,
    from open_states
    inner join openings using (source, child_id, begun)
),

-- Long-term stability: each episode's month ends (int_long_term_stability_spans) where it is
-- the child's open episode, the latest begun as for looked_after: a child whose episodes
-- overlap counts once, by the period of care of that episode.
long_term_owned as (
    select
        long_term_spans.child_id,
        greatest(long_term_spans.first_end, open_states.first_end) as first_end,
        least(long_term_spans.last_end, open_states.last_end) as last_end,
        long_term_spans.flag,
    from long_term_spans
    inner join open_states
        on open_states.source = 'ssda903'
        and open_states.child_id = long_term_spans.child_id
        and open_states.begun = long_term_spans.decom
        and open_states.first_end <= long_term_spans.last_end
        and open_states.last_end >= long_term_spans.first_end
),

-- Starts of care ------------------------------------------------------------------------------

care_starts as (
    select
        episodes.*,
        lead(decom) over (partition by child_id order by decom) as next_start,
    from episodes
    where rne = 'S'
),

cla_starts as (
    select
        child_id,
        last_day(decom) as first_end,
        least(window_last_end(decom), coalesce(month_end_before(next_start), date '9999-12-31')) as last_end,
        coalesce(cin, 'Unknown') as category_of_need,
        coalesce(home_postcode_district, 'Unknown') as locality,
    from care_starts
),

-- Unaccompanied children looked after: looked after on X, and DUC blank or after X.
uasc_spans as (
    select
        open_spans.child_id,
        open_spans.first_end,
        least(
            open_spans.last_end,
            case when uasc.uasc_ceased_date is null then date '9999-12-31' else month_end_before(uasc.uasc_ceased_date) end
        ) as last_end,
    from open_spans
    inner join uasc using (child_id)
    where open_spans.population = 'looked_after'
),

-- Populations ---------------------------------------------------------------------------------

-- Members who are children (or clients) of one source, whose sex, ethnicity and date of birth
-- (and, for the case export, locality) come from the child's newest record.
child_members as (
    select
        population, source, child_id, first_end, last_end,
        category_of_need, locality, legal_status, placement_type, category_of_abuse,
        null::varchar as program, flag,
    from open_spans
    union all
    select
        'cla_starts', 'ssda903', child_id, first_end, last_end,
        category_of_need, locality, null, null, null, null, null,
    from cla_starts
    union all
    select
        'long_term_looked_after', 'ssda903', child_id, first_end, last_end,
        null, null, null, null, null, null, flag,
    from long_term_owned
    union all
    select
        'looked_after_in_year', 'ssda903', child_id, first_end, last_end,
        null, null, null, null, null, null, flag,
    from missing_spans
    union all
    select
        'uasc_looked_after', 'ssda903', child_id, first_end, last_end,
        null, null, null, null, null, null, null,
    from uasc_spans
    union all
    select
        unnest(['oc2_health_assessment', 'oc2_teeth_check', 'oc2_sdq_recorded']), 'ssda903', child_id,
        make_date(collection_year, 3, 31), make_date(collection_year, 3, 31),
        null, null, null, null, null, null,
        unnest([coalesce(health_assessment, false), coalesce(teeth_check, false), sdq_score is not null]),
    from oc2
    union all
    select
        'referrals', 'cin', child_id, last_day(referral_date), window_last_end(referral_date),
        coalesce(primary_need_code, 'Unknown'), null, null, null, null, null, is_rereferral,
    from need_episodes
    union all
    select
        'assessments_authorised', 'cin', child_id,
        last_day(assessment_authorisation_date), window_last_end(assessment_authorisation_date),
        null, null, null, null, null, null, coalesce(is_within_45_working_days, false),
    from assessments
    union all
    select
        's47_enquiries', 'cin', child_id, last_day(s47_start_date), window_last_end(s47_start_date),
        null, null, null, null, null, null, null,
    from enquiries
    union all
    select
        'initial_conferences', 'cin', child_id, last_day(icpc_date), window_last_end(icpc_date),
        null, null, null, null, null, null, coalesce(is_icpc_within_15_working_days, false),
    from enquiries
    where is_icpc_held
    union all
    select
        'cp_plan_starts', 'cin', child_id, last_day(cpp_start_date), window_last_end(cpp_start_date),
        coalesce(primary_need_code, 'Unknown'), null, null, null, null, null, is_repeat,
    from plans
    union all
    select
        'cp_plan_ends', 'cin', child_id, last_day(cpp_end_date), window_last_end(cpp_end_date),
        coalesce(primary_need_code, 'Unknown'), null, null, null, null, null,
        cpp_end_date >= cpp_start_date + interval 2 year,
    from plans
    where cpp_end_date is not null
    union all
    select
        unnest(['program_assessed', 'program_reliable_change']), 'case', client_id, last_day(assessment_date),
        least(
            window_last_end(assessment_date),
            coalesce(month_end_before(next_assessment_date), date '9999-12-31')
        ),
        null, null, null, null, null, program, unnest([is_improved, is_reliably_improved]),
    from occasions
),

members as (
    select
        child_members.population, child_members.child_id as member_id, first_end, last_end,
        true as by_person, children.date_of_birth,
        coalesce(children.sex, 'Unknown') as sex, coalesce(children.ethnicity, 'Unknown') as ethnicity,
        category_of_need,
        case
            when child_members.source = 'case' then coalesce(children.postcode_district, 'Unknown')
            else child_members.locality
        end as locality,
        legal_status, placement_type, category_of_abuse,
        program, flag,
    from child_members
    left join children
        on children.source = child_members.source
        and children.child_id = child_members.child_id
    union all
    select
        'program_plans', client_id, last_day(start_date + 30), window_last_end(start_date),
        true, date_of_birth, sex, ethnicity,
        null, locality, null, null, null, program, has_plan_within_30d,
    from enrolments
    union all
    select
        case when scope = 'client' then 'clients_served' else 'program_clients_served' end,
        client_id, last_day(start_date),
        case
            when end_date > case_periods.last_period then case_periods.last_period
            else window_last_end(end_date)
        end,
        scope = 'client', date_of_birth,
        case when scope = 'client' then sex end,
        case when scope = 'client' then ethnicity end,
        null,
        case when scope = 'client' then locality end,
        null, null, null,
        program, null,
    from served_spans
    cross join case_periods
),

final as (
    select
        population,
        member_id,
        first_end,
        last_end,
        by_person,
        date_of_birth,
        sex,
        ethnicity,
        category_of_need,
        locality,
        legal_status,
        placement_type,
        category_of_abuse,
        program,
        flag,
    from members
    where first_end <= last_end
)

select * from final
