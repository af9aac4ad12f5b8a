-- One row per population (measure_populations() in models/macros.sql), month end and
-- breakdown value: how many members the population has on the day (members) and how many of
-- them carry its flag (flagged), as counting each member on every month end it belongs to would
-- give (int_measure_spans lists the members; tests/models/reference/population_months.sql
-- counts them month by month). Every month end of the population's source is present for every
-- breakdown value seen in any month (zero when none), and 'all'/'all' always.
--
-- Counted from spans, not from member-months: a span adds 1 on its first month end and takes
-- it away after its last, one grouping set per breakdown sums those steps, and a running sum
-- over the month ends gives the count on each. A span is first cut where the child's age band
-- changes (age_band_start), so each piece has one age band.
--
-- Windows (members_window, flag_window of measure_populations()): a month end is given only
-- when the source covers all the months its count needs, the month end and the ones before it
-- with no year without a return between; a flag needing more months than the members is null
-- until then. A programme's rows (breakdown program) start at the month end of its first
-- enrolment, and a window of it is full when the programme has run for all its months.
with spans as (
    select * from int_measure_spans
),

periods as (
    select 'ssda903' as periods_of, period_end from int_ssda903_periods
    union all
    select 'cin' as periods_of, period_end from int_cin_periods
    union all
    select 'case' as periods_of, period_end from int_case_periods
    union all
    select 'ssda903_31_march' as periods_of, period_end from int_ssda903_periods
    where month(period_end) = 3
),

population_periods as (
    select population, periods_of, members_window, flag_window from measure_populations()
),

-- Each month end of a source with the number of month ends it closes in a row (1 after a
-- year without a return): how many months of data a window ending there has.
coverage as (
    select
        periods_of,
        period_end,
        row_number() over (partition by periods_of, island order by period_end) as months_covered,
    from (
        select
            periods_of,
            period_end,
            year(period_end) * 12 + month(period_end)
                - row_number() over (partition by periods_of order by period_end) as island,
        from periods
    ) as numbered
),

-- The month end of each programme's first enrolment.
program_starts as (
    select program, last_day(min(start_date)) as first_end from int_program_enrolments
    group by program
),

population_bounds as (
    select
        population_periods.population,
        min(periods.period_end) as first_period,
        max(periods.period_end) as last_period,
    from population_periods
    inner join periods on periods.periods_of = population_periods.periods_of
    group by population_periods.population
),

-- Spans cut to the months the population is counted in.
clipped as (
    select
        spans.* exclude (first_end, last_end),
        greatest(spans.first_end, population_bounds.first_period) as first_end,
        least(spans.last_end, population_bounds.last_period) as last_end,
    from spans
    inner join population_bounds on population_bounds.population = spans.population
    where spans.first_end <= population_bounds.last_period
        and spans.last_end >= population_bounds.first_period
),

-- Age bands in order, each from the age it starts at (Unborn: before the month of birth).
bands as (
    select * from (values
        ('Unborn', null, 0),
        ('0-4', 0, 5),
        ('5-9', 5, 10),
        ('10-15', 10, 16),
        ('16-17', 16, 18),
        ('18+', 18, null)
    ) as bands (age_band, from_age, to_age)
),

-- Most spans keep one age band throughout; the rest are cut at the birthdays inside them: a
-- span crossing one meets every band, and keeps the months it spends in each.
crossing as (
    select
        clipped.*,
        by_person
            and date_of_birth is not null
            and age_band(date_of_birth, first_end) <> age_band(date_of_birth, last_end) as crosses_birthday,
    from clipped
),

pieces as (
    select
        population,
        case
            when crosses_birthday
                then greatest(crossing.first_end, coalesce(age_band_start(date_of_birth, bands.from_age), crossing.first_end))
            else crossing.first_end
        end as first_end,
        case
            when crosses_birthday
                then least(crossing.last_end, coalesce(month_end_before(age_band_start(date_of_birth, bands.to_age)), crossing.last_end))
            else crossing.last_end
        end as last_end,
        case
            when crosses_birthday then bands.age_band
            when by_person then age_band(date_of_birth, crossing.first_end)
        end as age_band,
        sex, ethnicity, category_of_need, locality, legal_status, placement_type, category_of_abuse,
        program, flag,
    from crossing
    left join bands on crossing.crosses_birthday
),

-- Each piece steps up on its first month end and down on the month end after its last: two
-- rows from one read of the pieces (unnest walks the lists in step).
steps as (
    select
        population,
        unnest([first_end, next_month_end(last_end)]) as month_end,
        age_band, sex, ethnicity, category_of_need, locality, legal_status, placement_type,
        category_of_abuse, program,
        unnest([1, -1]) as member_step,
        unnest(case when flag then [1, -1] else [0, 0] end) as flagged_step,
    from pieces
    where first_end <= last_end
),

-- Steps of the same values on the same month end added first: far fewer rows to group by each
-- breakdown.
step_totals as (
    select
        population, month_end, age_band, sex, ethnicity, category_of_need, locality, legal_status,
        placement_type, category_of_abuse, program,
        sum(member_step) as member_step,
        sum(flagged_step) as flagged_step,
    from steps
    group by all
),

grouped as (
    select
        population,
        month_end,
        case
            when grouping(age_band) = 0 then 'age_band'
            when grouping(sex) = 0 then 'sex'
            when grouping(ethnicity) = 0 then 'ethnicity'
            when grouping(category_of_need) = 0 then 'category_of_need'
            when grouping(locality) = 0 then 'locality'
            when grouping(legal_status) = 0 then 'legal_status'
            when grouping(placement_type) = 0 then 'placement_type'
            when grouping(category_of_abuse) = 0 then 'category_of_abuse'
            when grouping(program) = 0 then 'program'
            else 'all'
        end as breakdown,
        case
            when grouping(age_band) = 0 then age_band
            when grouping(sex) = 0 then sex
            when grouping(ethnicity) = 0 then ethnicity
            when grouping(category_of_need) = 0 then category_of_need
            when grouping(locality) = 0 then locality
            when grouping(legal_status) = 0 then legal_status
            when grouping(placement_type) = 0 then placement_type
            when grouping(category_of_abuse) = 0 then category_of_abuse
            when grouping(program) = 0 then program
            else 'all'
        end as breakdown_value,
        sum(member_step) as member_step,
        sum(flagged_step) as flagged_step,
    from step_totals
    group by grouping sets (
        (population, month_end),
        (population, month_end, age_band),
        (population, month_end, sex),
        (population, month_end, ethnicity),
        (population, month_end, category_of_need),
        (population, month_end, locality),
        (population, month_end, legal_status),
        (population, month_end, placement_type),
        (population, month_end, category_of_abuse),
        (population, month_end, program)
    )
),

-- A breakdown a population does not have (locality of a child protection plan, say) groups
-- every member under null: dropped here.
changes as (
    select * from grouped
    where breakdown_value is not null
),

breakdown_values as (
    select distinct population, breakdown, breakdown_value from changes
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

-- The count on a month end is the sum of the steps up to it.
running as (
    select
        population, month_end, breakdown, breakdown_value, is_period,
        sum(member_step) over value_order as members,
        sum(flagged_step) over value_order as flagged,
    from (
        select population, month_end, breakdown, breakdown_value, member_step, flagged_step, false as is_period
        from changes
        union all
        select population, period_end, breakdown, breakdown_value, 0, 0, true
        from grid
    ) as steps_and_periods
    window value_order as (
        partition by population, breakdown, breakdown_value
        order by month_end
        range between unbounded preceding and current row
    )
),

-- A breakdown value is kept if it has a member on some month end counted.
kept as (
    select
        population,
        month_end as period_end,
        breakdown,
        breakdown_value,
        members::bigint as members,
        flagged::bigint as flagged,
    from running
    where is_period
    qualify breakdown = 'all' or max(members) over (partition by population, breakdown, breakdown_value) > 0
),

-- The months of data behind each row: the source's, and for a programme no more than it has run.
covered as (
    select
        kept.*,
        population_periods.members_window,
        population_periods.flag_window,
        case
            when kept.breakdown = 'program'
                then least(
                    coverage.months_covered,
                    datediff('month', program_starts.first_end, kept.period_end) + 1
                )
            else coverage.months_covered
        end as months_covered,
    from kept
    inner join population_periods on population_periods.population = kept.population
    inner join coverage
        on coverage.periods_of = population_periods.periods_of
        and coverage.period_end = kept.period_end
    left join program_starts
        on kept.breakdown = 'program'
        and program_starts.program = kept.breakdown_value
),

final as (
    select
        population,
        period_end,
        breakdown,
        breakdown_value,
        members,
        case when months_covered >= flag_window then flagged end as flagged,
    from covered
    where months_covered >= greatest(members_window, 1)
)

select * from final
