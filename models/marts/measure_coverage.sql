-- measure_coverage: one row per catalogue measure (marts.measures): whether this run computed
-- it, and when it did not, or only for some periods, why and what to do (DESIGN §2b "Say what
-- cannot be computed"). coverage is computed, partly_computed or not_computed; reason_code one
-- of source_absent (an input named in the measure's sources has no rows), source_excluded
-- (rows loaded, every one left out by the data contracts), no_population_file,
-- no_area_code (no authority.code and several areas), population_area_missing (no rows for
-- the configured code), population_unusable, population_period_missing (no estimate for some
-- or all periods), no_periods (inputs loaded, no period to count), no_rows_in_period (inputs
-- loaded, nobody in the measure's population in any period). computed: the measure has a value
-- (not null, not NaN) for the whole population or a programme in at least one period, and every
-- input it names has rows.
with catalogue as (
    select * from marts.measures
),

mart_values as (
    select * from marts.measure_values
    where breakdown in ('all', 'program')
),

config as (
    select max(nullif(upper(trim(authority_code)), '')) as authority_code,
    from raw.oba_config
),

-- The source titles of data_contracts/<source>.yml (tests/test_not_computed.py keeps them in
-- step) and what to add for each family of exports.
source_titles as (
    select * from (
        values
        ('ssda903_header', 'SSDA903 header', 'ssda903'),
        ('ssda903_episodes', 'SSDA903 episodes', 'ssda903'),
        ('ssda903_oc3', 'SSDA903 OC3 (care leavers)', 'ssda903'),
        ('ssda903_missing', 'SSDA903 missing or away from placement', 'ssda903'),
        ('ssda903_uasc', 'SSDA903 UASC', 'ssda903'),
        ('ssda903_oc2', 'SSDA903 OC2 (outcomes of children looked after 12 months)', 'ssda903'),
        ('ssda903_placed_adoption', 'SSDA903 should be placed for adoption', 'ssda903'),
        ('cin_children', 'CIN census children', 'cin'),
        ('cin_details', 'CIN census episodes of need', 'cin'),
        ('cin_cp_plans', 'CIN census child protection plans', 'cin'),
        ('cin_assessments', 'CIN census assessments', 'cin'),
        ('cin_section47', 'CIN census section 47 enquiries', 'cin'),
        ('case_clients', 'Case export – clients', 'case'),
        ('case_enrolments', 'Case export – programme enrolments', 'case'),
        ('case_services', 'Case export – services delivered', 'case'),
        ('case_service_plans', 'Case export – service plans', 'case'),
        ('case_assessments', 'Case export – assessments', 'case'),
        ('population', 'Population estimates (ONS mid-year)', 'population')
    ) as t (source, title, family)
),

family_fixes as (
    select * from (
        values
        (
            'ssda903',
            'Add each collection year''s SSDA903 return (header, episodes, OC3 and the other '
            || 'tables the measure names, such as UASC, Missing, OC2 or PlacedAdoption, as CSV '
            || 'files, or its XML) to the exports folder.'
        ),
        (
            'cin',
            'Add each collection year''s CIN census XML return, with its assessments, section 47 '
            || 'enquiries and child protection plans, to the exports folder.'
        ),
        (
            'case',
            'Add the case-management export (clients, programme enrolments, service plans and '
            || 'assessments; CSV, Excel or Parquet) to the exports folder.'
        )
    ) as t (family, fix)
),

-- Rows per source: loaded (any file), and usable (the active file's rows that the data
-- contracts keep, as staging reads them).
source_rows as (
    select
        'ssda903_header' as source,
        count(*) as rows_loaded,
        count(*) filter (where _active and not coalesce(_quarantined, false)) as rows_usable,
    from raw.ssda903_header
    union all
    select
        'ssda903_episodes',
        count(*),
        count(*) filter (where _active and not coalesce(_quarantined, false)),
    from raw.ssda903_episodes
    union all
    select
        'ssda903_oc3',
        count(*),
        count(*) filter (where _active and not coalesce(_quarantined, false)),
    from raw.ssda903_oc3
    union all
    select
        'cin_children',
        count(*),
        count(*) filter (where _active and not coalesce(_quarantined, false)),
    from raw.cin_children
    union all
    select
        'cin_details',
        count(*),
        count(*) filter (where _active and not coalesce(_quarantined, false)),
    from raw.cin_details
    union all
    select
        'cin_cp_plans',
        count(*),
        count(*) filter (where _active and not coalesce(_quarantined, false)),
    from raw.cin_cp_plans
    union all
    select
        'case_clients',
        count(*),
        count(*) filter (where _active and not coalesce(_quarantined, false)),
    from raw.case_clients
    union all
    select
        'case_enrolments',
        count(*),
        count(*) filter (where _active and not coalesce(_quarantined, false)),
    from raw.case_enrolments
    union all
    select
        'case_services',
        count(*),
        count(*) filter (where _active and not coalesce(_quarantined, false)),
    from raw.case_services
    union all
    select
        'case_service_plans',
        count(*),
        count(*) filter (where _active and not coalesce(_quarantined, false)),
    from raw.case_service_plans
    union all
    select
        'case_assessments',
        count(*),
        count(*) filter (where _active and not coalesce(_quarantined, false)),
    from raw.case_assessments
    union all
    select
        'population',
        count(*),
        count(*) filter (where _active and not coalesce(_quarantined, false)),
    from raw.population
    union all
    select
        'ssda903_missing',
        count(*),
        count(*) filter (where _active and not coalesce(_quarantined, false)),
    from raw.ssda903_missing
    union all
    select
        'ssda903_uasc',
        count(*),
        count(*) filter (where _active and not coalesce(_quarantined, false)),
    from raw.ssda903_uasc
    union all
    select
        'ssda903_oc2',
        count(*),
        count(*) filter (where _active and not coalesce(_quarantined, false)),
    from raw.ssda903_oc2
    union all
    select
        'ssda903_placed_adoption',
        count(*),
        count(*) filter (where _active and not coalesce(_quarantined, false)),
    from raw.ssda903_placed_adoption
    union all
    select
        'cin_assessments',
        count(*),
        count(*) filter (where _active and not coalesce(_quarantined, false)),
    from raw.cin_assessments
    union all
    select
        'cin_section47',
        count(*),
        count(*) filter (where _active and not coalesce(_quarantined, false)),
    from raw.cin_section47
),

measure_sources as (
    select
        measure_id,
        trim(unnest(string_split(coalesce(sources, ''), ','))) as source,
    from catalogue
),

source_states as (
    select
        measure_sources.measure_id,
        measure_sources.source,
        coalesce(source_titles.title, measure_sources.source) as title,
        source_titles.family,
        source_rows.rows_loaded,
        case
            when source_rows.source is null then 'unchecked'
            when source_rows.rows_loaded = 0 then 'absent'
            when source_rows.rows_usable = 0 then 'excluded'
            else 'present'
        end as state,
    from measure_sources
    left join source_titles on measure_sources.source = source_titles.source
    left join source_rows on measure_sources.source = source_rows.source
    where measure_sources.source <> ''
),

source_summary as (
    select
        source_states.measure_id,
        bool_or(source_states.source = 'population') as uses_population,
        bool_or(source_states.source = 'population' and source_states.state = 'absent')
            as population_absent,
        string_agg(source_states.source, ', ' order by source_states.source)
            filter (where source_states.state in ('absent', 'excluded')) as missing_sources,
        list(source_states.title order by source_states.source) filter (
            where source_states.state = 'absent' and source_states.source <> 'population'
        ) as absent_list,
        string_agg(source_states.source, ', ' order by source_states.source) filter (
            where source_states.state = 'absent' and source_states.source <> 'population'
        ) as absent_sources,
        string_agg(
            'all ' || source_states.rows_loaded || ' rows of ' || source_states.title,
            ', ' order by source_states.source
        ) filter (where source_states.state = 'excluded') as excluded_titles,
        string_agg(source_states.title, ', ' order by source_states.source)
            filter (where source_states.state = 'present') as present_titles,
        string_agg(distinct family_fixes.fix, ' ' order by family_fixes.fix) filter (
            where source_states.state = 'absent'
        ) as absent_fix,
    from source_states
    left join family_fixes on source_states.family = family_fixes.family
    group by source_states.measure_id
),

-- The population file: its usable rows by area, and the estimates int_population_0_17 made
-- for the configured area (or the only one).
population_rows as (
    select * from stg_population
    where
        area_code is not null and area_code <> ''
        and mid_year is not null and age is not null and population is not null
),

population_areas as (
    select
        count(*) as n_areas,
        list(area_code order by area_code) as area_codes,
        max(area_code) filter (where area_code = (select authority_code from config))
            as configured_found,
    from (select distinct area_code from population_rows)
),

estimates as (
    select
        count(*) as n_estimates,
        min(mid_year) as first_mid_year,
        max(mid_year) as last_mid_year,
        max(area_code) as area_code,
    from int_population_0_17
    where population is not null and population > 0
),

population_facts as (
    select
        config.authority_code,
        population_areas.n_areas,
        population_areas.configured_found,
        estimates.n_estimates,
        estimates.first_mid_year,
        estimates.last_mid_year,
        coalesce(estimates.area_code, config.authority_code) as area_code,
        array_to_string(list_slice(population_areas.area_codes, 1, 5), ', ')
        || case
            when population_areas.n_areas > 5
                then ' and ' || (population_areas.n_areas - 5) || ' more'
            else ''
        end as areas_text,
    from config
    cross join population_areas
    cross join estimates
),

-- Each measure's periods: how many, how many with a value, and for rates and percentages
-- the periods without a value because a denominator is missing (not 0: no input to divide by).
value_summary as (
    select
        mart_values.measure_id,
        count(distinct mart_values.period_end) as periods,
        count(distinct mart_values.period_end)
            filter (where mart_values.value is not null and not isnan(mart_values.value))
            as periods_with_value,
        min(mart_values.period_end) as first_period,
        max(mart_values.period_end) as last_period,
        min(mart_values.period_end)
            filter (where mart_values.value is not null and not isnan(mart_values.value))
            as first_value_period,
        max(mart_values.period_end)
            filter (where mart_values.value is not null and not isnan(mart_values.value))
            as last_value_period,
    from mart_values
    group by mart_values.measure_id
),

denominator_gaps as (
    -- periods of the whole population with no value and no denominator
    select
        mart_values.measure_id,
        count(distinct mart_values.period_end) as periods_without_denominator,
        min(mart_values.period_end) as first_gap,
        max(mart_values.period_end) as last_gap,
    from mart_values
    inner join catalogue on mart_values.measure_id = catalogue.measure_id
    where
        catalogue.unit <> 'count'
        and mart_values.breakdown = 'all'
        and mart_values.denominator is null
        and (mart_values.value is null or isnan(mart_values.value))
    group by mart_values.measure_id
),

joined as (
    select
        catalogue.measure_id,
        catalogue.name,
        catalogue.oba_kind,
        catalogue.unit,
        coalesce(source_summary.uses_population, false) as uses_population,
        coalesce(source_summary.population_absent, false) as population_absent,
        source_summary.missing_sources,
        source_summary.absent_list,
        prose_list(source_summary.absent_list, 'or') as absent_titles,
        prose_list(source_summary.absent_list, 'and') as absent_titles_and,
        source_summary.absent_sources,
        source_summary.excluded_titles,
        source_summary.present_titles,
        source_summary.absent_fix,
        coalesce(value_summary.periods, 0) as periods,
        coalesce(value_summary.periods_with_value, 0) as periods_with_value,
        value_summary.first_period,
        value_summary.last_period,
        value_summary.first_value_period,
        value_summary.last_value_period,
        coalesce(denominator_gaps.periods_without_denominator, 0) as periods_without_denominator,
        denominator_gaps.first_gap,
        denominator_gaps.last_gap,
        population_facts.*,
    from catalogue
    cross join population_facts
    left join source_summary on catalogue.measure_id = source_summary.measure_id
    left join value_summary on catalogue.measure_id = value_summary.measure_id
    left join denominator_gaps on catalogue.measure_id = denominator_gaps.measure_id
),

classified as (
    select
        joined.*,
        case
            -- an input the measure names has no rows: any figure would count its absence as
            -- none (no Missing table is not "nobody went missing")
            when joined.periods_with_value = 0 or joined.absent_list is not null then 'not_computed'
            when joined.uses_population and joined.periods_without_denominator > 0
                then 'partly_computed'
            else 'computed'
        end as coverage,
        -- the mid-year estimate a period needs: mid-year N for 1 April N to 31 March N+1
        year(joined.last_gap) - case when month(joined.last_gap) < 4 then 1 else 0 end
            as last_gap_mid_year,
        year(joined.first_gap) - case when month(joined.first_gap) < 4 then 1 else 0 end
            as first_gap_mid_year,
    from joined
),

reasoned as (
    select
        classified.*,
        case
            when classified.coverage = 'computed' then null
            when classified.coverage = 'partly_computed' then 'population_period_missing'
            when classified.absent_titles is not null then 'source_absent'
            when classified.excluded_titles is not null then 'source_excluded'
            when classified.uses_population and classified.population_absent
                then 'no_population_file'
            when classified.uses_population and classified.n_areas = 0 then 'population_unusable'
            when classified.uses_population and classified.authority_code is null
                and classified.n_areas > 1 then 'no_area_code'
            when classified.uses_population and classified.authority_code is not null
                and classified.configured_found is null then 'population_area_missing'
            when classified.uses_population and classified.n_estimates = 0
                then 'population_unusable'
            when classified.uses_population and classified.periods_without_denominator > 0
                then 'population_period_missing'
            when classified.periods = 0 then 'no_periods'
            else 'no_rows_in_period'
        end as reason_code,
    from classified
),

explained as (
    select
        reasoned.*,
        case reasoned.reason_code
            when 'source_absent' then
                'No ' || reasoned.absent_titles || ' loaded (no rows of '
                || reasoned.absent_sources || ')'
                || case
                    when reasoned.population_absent
                        then '; and no population file'
                    else ''
                end
                || '.'
            when 'source_excluded' then
                'Every row of its input was left out by the data contracts ('
                || reasoned.excluded_titles || ').'
            when 'no_population_file' then
                'No population file: no population estimates loaded, so there are no children '
                || 'aged 0-17 to divide by.'
            when 'no_area_code' then
                'No area code: oba.yaml sets no authority.code and the population file holds '
                || reasoned.n_areas || ' areas (' || reasoned.areas_text || ').'
            when 'population_area_missing' then
                'The population file has no rows for area code ' || reasoned.authority_code
                || ' (authority.code in oba.yaml); it holds ' || reasoned.n_areas
                || case when reasoned.n_areas = 1 then ' area: ' else ' areas: ' end
                || reasoned.areas_text || '.'
            when 'population_unusable' then
                'The population file''s rows' || coalesce(' for ' || reasoned.area_code, '')
                || ' give no estimate of children aged 0-17 (each row needs an area code, a '
                || 'mid-year, an age of 0 to 17 or 0-17, and a population).'
            when 'population_period_missing' then
                'No population estimate for ' || coalesce(reasoned.area_code, 'the area')
                || ' before mid-' || reasoned.first_mid_year || ': '
                || case
                    when reasoned.coverage = 'not_computed'
                        then 'the estimates begin after the last period ('
                        || strftime(reasoned.last_period, '%B %Y') || '), so no period has a rate.'
                    else
                        'no rate for ' || reasoned.periods_without_denominator
                        || case
                            when reasoned.periods_without_denominator = 1 then ' period ('
                            else ' periods ('
                        end
                        || strftime(reasoned.first_gap, '%B %Y')
                        || case
                            when reasoned.first_gap = reasoned.last_gap then ''
                            else ' to ' || strftime(reasoned.last_gap, '%B %Y')
                        end
                        || ').'
                end
            when 'no_periods' then
                'Its inputs are loaded (' || coalesce(reasoned.present_titles, 'none listed')
                || ') but no row falls in a period to report on.'
            when 'no_rows_in_period' then
                'Its inputs are loaded (' || coalesce(reasoned.present_titles, 'none listed')
                || ') but no record falls within the measure''s definition in any of its '
                || reasoned.periods || ' period(s) ('
                || strftime(reasoned.first_period, '%B %Y')
                || case
                    when reasoned.first_period = reasoned.last_period then ''
                    else ' to ' || strftime(reasoned.last_period, '%B %Y')
                end
                || ').'
        end as reason,
        case reasoned.reason_code
            when 'source_absent' then
                coalesce(
                    reasoned.absent_fix,
                    'Add the ' || reasoned.absent_titles_and || ' to the exports folder.'
                )
                || case
                    when reasoned.population_absent
                        then ' For the rate, add ONS mid-year estimates of children aged 0-17 '
                        || '(area_code, year, age, population) for authority.code in oba.yaml.'
                    else ''
                end
            when 'source_excluded' then
                'See the data-quality page for the rule each row broke, correct the export and '
                || 'run again.'
            when 'no_population_file' then
                'Add ONS mid-year population estimates of children aged 0-17 (CSV columns '
                || 'area_code, year, age, population) for '
                || coalesce('area code ' || reasoned.authority_code, 'the authority''s area code')
                || ' to the exports folder'
                || case
                    when reasoned.authority_code is null
                        then ', and set authority.code in oba.yaml.'
                    else ' (authority.code in oba.yaml).'
                end
            when 'no_area_code' then
                'Set authority.code in oba.yaml to the authority''s area code (one of those in '
                || 'the population file).'
            when 'population_area_missing' then
                'Check authority.code in oba.yaml (the authority''s ONS area code, e.g. '
                || 'E06000001), or add rows for ' || reasoned.authority_code
                || ' to the population file.'
            when 'population_unusable' then
                'Correct the population file: rows of area_code, year, age (0 to 17, or 0-17) '
                || 'and population' || coalesce(' for ' || reasoned.area_code, '')
                || '; the data-quality page lists rows left out.'
            when 'population_period_missing' then
                'Add ONS mid-year estimates for '
                || case
                    when reasoned.first_gap_mid_year = reasoned.last_gap_mid_year
                        then 'mid-' || reasoned.first_gap_mid_year
                    else 'mid-' || reasoned.first_gap_mid_year || ' to mid-'
                        || reasoned.last_gap_mid_year
                end
                || ' for ' || coalesce(reasoned.area_code, 'the area') || ' to the population file.'
            when 'no_periods' then
                'Check the exports'' collection years and dates; the data-quality page lists '
                || 'each file and the rows left out.'
            when 'no_rows_in_period' then
                'Check that the exports hold the records this measure counts (see its '
                || 'definition) for the years wanted; the data-quality page lists rows left out.'
        end as fix,
    from reasoned
),

final as (
    select
        measure_id,
        name,
        oba_kind,
        unit,
        coverage,
        periods_with_value > 0 as computed,
        reason_code,
        reason,
        fix,
        case
            when
                reason_code like 'population%'
                or reason_code in ('no_population_file', 'no_area_code')
                then 'population'
            else missing_sources
        end as missing_inputs,
        periods,
        periods_with_value,
        first_value_period,
        last_value_period,
    from explained
)

select * from final
order by measure_id
