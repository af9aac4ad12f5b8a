-- Macros every model may call, (re)defined in the warehouse whenever a model is built, so that
-- views and analysts' queries can call them too. One statement per macro, separated by ';'.

-- Whole years of age on a day, from the yyyymmdd difference: a 29 February birthday is
-- reached on 1 March in other years.
create or replace macro main.age_years(date_of_birth, on_day) as (
    (year(on_day::date) * 10000 + month(on_day::date) * 100 + day(on_day::date))
    - (year(date_of_birth::date) * 10000 + month(date_of_birth::date) * 100 + day(date_of_birth::date))
) // 10000;

-- The age band of a child on a day (the breakdown of models/measures.yml): 0-4, 5-9, 10-15, 16-17, 18+; Unborn before
-- the date of birth, Unknown without one.
create or replace macro main.age_band(date_of_birth, on_day) as
    case
        when date_of_birth is null then 'Unknown'
        when date_of_birth::date > on_day::date then 'Unborn'
        when age_years(date_of_birth, on_day) <= 4 then '0-4'
        when age_years(date_of_birth, on_day) <= 9 then '5-9'
        when age_years(date_of_birth, on_day) <= 15 then '10-15'
        when age_years(date_of_birth, on_day) <= 17 then '16-17'
        else '18+'
    end;

-- The last day of every month from the month of first_day to the month of last_day: the month
-- ends the measures are counted on.
create or replace macro main.month_ends(first_day, last_day) as table
    select last_day(month_start)::date as period_end
    from (
        select unnest(generate_series(
            date_trunc('month', first_day::date), date_trunc('month', last_day::date), interval 1 month
        )) as month_start
    ) as months;

-- The month ends of a collection year of the DfE returns (SSDA903, CIN census): April of the
-- year before to March of the year itself.
create or replace macro main.collection_year_month_ends(collection_year) as table
    select period_end from month_ends(
        make_date(collection_year - 1, 4, 1), make_date(collection_year, 3, 31)
    );

-- Month-end arithmetic for counting from spans (int_measure_spans, int_measure_counts): a
-- member counted on every month end from a span's first to its last is +1 on the first and
-- -1 on the month end after the last.

-- The month end after the month end x.
create or replace macro main.next_month_end(x) as last_day(x::date + 1);

-- The last month end strictly before day d: a range open on d-1 but not on d ends there.
create or replace macro main.month_end_before(d) as (date_trunc('month', d::date) - interval 1 day)::date;

-- The last month end X whose 12 months (X - 1 year, X] still hold day d: X - 1 year < d. It is
-- the month end before d + 1 year, or the one on or after it when d is 29 February (X - 1 year
-- of 28 February is 28 February, still before it).
create or replace macro main.window_last_end(d) as
    case
        when (last_day(d::date + interval 1 year) - interval 1 year)::date < d::date
            then last_day(d::date + interval 1 year)
        else month_end_before(d::date + interval 1 year)
    end;

-- The first month end on which a child born on date_of_birth is age years old (age_years), so
-- the first month end of the age band starting at that age; 0 gives the month of birth.
create or replace macro main.age_band_start(date_of_birth, age) as
    case
        when age_years(date_of_birth, last_day(make_date(year(date_of_birth::date) + age, month(date_of_birth::date), 1))) >= age
            then last_day(make_date(year(date_of_birth::date) + age, month(date_of_birth::date), 1))
        else next_month_end(last_day(make_date(year(date_of_birth::date) + age, month(date_of_birth::date), 1)))
    end;

-- The populations int_measure_counts counts (int_measure_spans lists their members): the month
-- ends each is counted on (those of the SSDA903 returns, only their 31 Marches for a return's
-- annual tables, the CIN census years or the case export), whether int_rates_per_10k gives
-- it per 10,000 children, and the months of data a count on month end X needs: members_window
-- for the members, flag_window for the flag. 12 is a window of 12 months, (X - 1 year, X]: a
-- flow (starts, referrals, enrolments served) or a flag looking back over the 12 months
-- (placements, a missing incident); 0 a count on the day alone. A count whose months are not
-- all covered by the source's data (before its first full window, or after a year without a
-- return) is not given: no value rather than a partial one that ramps up. The catalogue's
-- declared measures (models/measures.yml, counts: and rates:) name a population from here.
create or replace macro main.measure_populations() as table
    select * from (values
        ('looked_after', 'ssda903', true, 0, 12),
        ('cla_starts', 'ssda903', false, 12, 12),
        ('long_term_looked_after', 'ssda903', false, 0, 0),
        ('looked_after_in_year', 'ssda903', false, 12, 12),
        ('uasc_looked_after', 'ssda903', false, 0, 0),
        ('oc2_health_assessment', 'ssda903_31_march', false, 0, 0),
        ('oc2_teeth_check', 'ssda903_31_march', false, 0, 0),
        ('oc2_sdq_recorded', 'ssda903_31_march', false, 0, 0),
        ('children_in_need', 'cin', true, 0, 0),
        ('referrals', 'cin', true, 12, 12),
        ('assessments_authorised', 'cin', false, 12, 12),
        ('s47_enquiries', 'cin', true, 12, 12),
        ('initial_conferences', 'cin', false, 12, 12),
        ('child_protection', 'cin', true, 0, 0),
        ('cp_plan_starts', 'cin', false, 12, 12),
        ('cp_plan_ends', 'cin', false, 12, 12),
        ('program_assessed', 'case', false, 12, 12),
        ('program_reliable_change', 'case', false, 12, 12),
        ('program_plans', 'case', false, 12, 12),
        ('clients_served', 'case', false, 12, 12),
        ('program_clients_served', 'case', false, 12, 12)
    ) as populations (population, periods_of, per_10k_children, members_window, flag_window);

-- The assessment tool of a case export row as the measures name it: trimmed, Unknown when blank.
create or replace macro main.assessment_tool(tool) as coalesce(nullif(trim(tool), ''), 'Unknown');

-- The items of a list as prose: 'a', 'a or b', 'a, b or c' (with conjunction 'or'; 'and' alike);
-- null for an empty list.
create or replace macro main.prose_list(items, conjunction) as
    case
        when len(items) = 1 then items[1]
        when len(items) > 1
            then array_to_string(list_slice(items, 1, len(items) - 1), ', ')
            || ' ' || conjunction || ' ' || items[len(items)]
    end;

-- The month ends of every collection year in the list years, each with its year: the month
-- ends a set of returns covers (a year with no return leaves a gap rather than a false count).
create or replace macro main.returns_month_ends(years) as table
    select distinct months.period_end, returns.collection_year
    from (select unnest(years) as collection_year) as returns
    cross join collection_year_month_ends(returns.collection_year) as months;

-- Staging: the tidying staging models (models/staging/*.yml) share, applied to values already
-- typed as their data contract declares (codes trimmed and upper-cased, blanks null).

-- Sex as M, F or U from any of the code lists the exports use (DfE's 1 and 2, M/F/U, the
-- words MALE and FEMALE); null for any other code.
create or replace macro main.sex_mfu(code) as
    case code
        when '1' then 'M'
        when 'M' then 'M'
        when 'MALE' then 'M'
        when '2' then 'F'
        when 'F' then 'F'
        when 'FEMALE' then 'F'
        when 'U' then 'U'
    end;

-- A yes/no code (1 or TRUE, 0 or FALSE) as a boolean; null for a blank.
create or replace macro main.flag(code) as
    case when code in ('1', 'TRUE') then true when code in ('0', 'FALSE') then false end;

-- The district (outward code) of a full postcode, spaces anywhere; null for anything else. A
-- full postcode is never kept beyond raw.
create or replace macro main.postcode_district(postcode) as
    case
        when regexp_full_match(upper(replace(postcode, ' ', '')), '[A-Z]{1,2}[0-9][A-Z0-9]?[0-9][A-Z]{2}')
            then left(upper(replace(postcode, ' ', '')), length(replace(postcode, ' ', '')) - 3)
    end;

-- Breakdowns of the children looked after (DOMAIN.md §3b): the legal status group of an
-- SSDA903 LS code and the placement type group of a PLACE code (Unknown when blank).
create or replace macro main.legal_status_group(ls) as
    case
        when ls is null then 'Unknown'
        when ls in ('C1', 'C2') then 'care order'
        when ls = 'E1' then 'placement order'
        when ls = 'V2' then 'accommodated under s20'
        when ls in ('J1', 'J2', 'J3') then 'youth justice'
        when ls in ('L1', 'L2', 'L3') then 'police protection/emergency'
        else 'other'
    end;

create or replace macro main.placement_type_group(place) as
    case
        when place is null then 'Unknown'
        when place in ('U1', 'U2', 'U3') then 'foster with relatives/friends'
        when place in ('U4', 'U5', 'U6') then 'other foster'
        when place in ('A3', 'A4', 'A5', 'A6') then 'placed for adoption'
        when place = 'P1' then 'placed with parents'
        when place in ('P2', 'H5', 'P3', 'K1', 'K3', 'Z12', 'Z13', 'Z14') then 'independent/semi-independent living'
        when place in ('K2', 'R1', 'R2', 'R5', 'S1', 'Z11') then 'residential'
        else 'secure/custody and other'
    end;

-- The first month end X on which day d is at least n months back (d <= X - n months, the day
-- clamped to the month's length as DuckDB's interval arithmetic does): a period begun on d is
-- n months old from there.
create or replace macro main.first_end_months_after(d, n) as
    case
        when (last_day(d::date + to_months(n)) - to_months(n))::date >= d::date
            then last_day(d::date + to_months(n))
        else next_month_end(last_day(d::date + to_months(n)))
    end;

