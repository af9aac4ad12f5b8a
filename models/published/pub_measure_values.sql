-- pub_measure_values: one row per measure, period end, breakdown and breakdown value, rounded
-- for display and suppressed following DfE practice (DESIGN.md §5). Text columns numerator,
-- denominator and value hold a number or a code: c suppressed, z not applicable, x not available.
--
-- Primary suppression: a count cell (the numerator; the denominator of a percentage or rate)
-- from 1 to raw.oba_config.suppression_upper is c; 0 is a true zero. A percentage or rate is c
-- when its numerator or denominator is.
-- Secondary suppression, within one breakdown of one measure and period and separately for
-- numerators and denominators: when the whole-population total is shown and the suppressed
-- cells could be worked out from it (only one cell suppressed, or the suppressed cells'
-- recoverable sum pins each of them: all 1s or all at the upper bound), the smallest shown
-- non-zero cell of the breakdown is suppressed too (ties: first breakdown value); when there is
-- no such cell (e.g. 5 and 5 with a total of 10), the total is suppressed instead.
-- A mean number of days (unit days) is suppressed on its denominator, the children counted,
-- like a percentage: its numerator, the days added up, is never a count of children (3 days
-- is not 3 children), so it is no cell of its own and is c whenever its denominator is.
-- Rounding: counts and days to whole numbers, percentages and rates per 10,000 to 1 decimal
-- place.
with mart_values as (
    select * from marts.measure_values
),

catalogue as (
    select * from marts.measures
),

config as (
    select * from raw.oba_config
),

settings as (
    select coalesce(max(config.suppression_upper), 5) as upper_bound,
    from config
),

measure_rows as (
    select
        mart_values.measure_id,
        mart_values.period_end,
        mart_values.breakdown,
        mart_values.breakdown_value,
        mart_values.numerator,
        mart_values.denominator,
        mart_values.value,
        catalogue.unit,
        case when catalogue.unit in ('count', 'days') then 0 else 1 end as decimals,
    from mart_values
    inner join catalogue on mart_values.measure_id = catalogue.measure_id
),

cells as (
    select
        measure_id,
        period_end,
        breakdown,
        breakdown_value,
        'numerator' as part,
        round(coalesce(numerator, case when unit = 'count' then value end)) as n,
    from measure_rows
    where
        unit <> 'days'
        and coalesce(numerator, case when unit = 'count' then value end) is not null
    union all
    select
        measure_id,
        period_end,
        breakdown,
        breakdown_value,
        'denominator' as part,
        round(denominator) as n,
    from measure_rows
    where unit <> 'count' and denominator is not null
),

primary_cells as (
    select
        cells.*,
        cells.n > 0 and cells.n <= settings.upper_bound as is_primary,
    from cells
    cross join settings
),

totals as (
    select
        measure_id,
        period_end,
        part,
        n as total_n,
        is_primary as total_suppressed,
    from primary_cells
    where breakdown = 'all'
),

breakdown_groups as (
    select
        measure_id,
        period_end,
        breakdown,
        part,
        count(*) filter (where is_primary) as n_primary,
        coalesce(sum(n) filter (where not is_primary), 0) as shown_sum,
    from primary_cells
    where breakdown <> 'all'
    group by measure_id, period_end, breakdown, part
),

recoverable_groups as (
    select
        breakdown_groups.measure_id,
        breakdown_groups.period_end,
        breakdown_groups.breakdown,
        breakdown_groups.part,
    from breakdown_groups
    inner join totals
        on
            breakdown_groups.measure_id = totals.measure_id
            and breakdown_groups.period_end = totals.period_end
            and breakdown_groups.part = totals.part
    cross join settings
    where
        not totals.total_suppressed
        and breakdown_groups.n_primary >= 1
        and (
            breakdown_groups.n_primary = 1
            or totals.total_n - breakdown_groups.shown_sum = breakdown_groups.n_primary
            or totals.total_n - breakdown_groups.shown_sum
            = breakdown_groups.n_primary * settings.upper_bound
        )
),

uncoverable_totals as (
    -- recoverable groups with no shown non-zero cell left to hide: hide their total
    select distinct
        recoverable_groups.measure_id,
        recoverable_groups.period_end,
        recoverable_groups.part,
    from recoverable_groups
    where not exists (
        select 1
        from primary_cells
        where
            primary_cells.measure_id = recoverable_groups.measure_id
            and primary_cells.period_end = recoverable_groups.period_end
            and primary_cells.breakdown = recoverable_groups.breakdown
            and primary_cells.part = recoverable_groups.part
            and not primary_cells.is_primary
            and primary_cells.n > 0
    )
),

secondary_candidates as (
    select
        primary_cells.measure_id,
        primary_cells.period_end,
        primary_cells.breakdown,
        primary_cells.breakdown_value,
        primary_cells.part,
        row_number() over (
            partition by
                primary_cells.measure_id,
                primary_cells.period_end,
                primary_cells.breakdown,
                primary_cells.part
            order by primary_cells.n, primary_cells.breakdown_value
        ) as pick,
    from primary_cells
    inner join recoverable_groups using (measure_id, period_end, breakdown, part)
    where not primary_cells.is_primary and primary_cells.n > 0
),

suppressed_cells as (
    select
        primary_cells.measure_id,
        primary_cells.period_end,
        primary_cells.breakdown,
        primary_cells.breakdown_value,
        primary_cells.part,
        primary_cells.is_primary
        or secondary_candidates.pick is not null
        or uncoverable_totals.part is not null as is_suppressed,
    from primary_cells
    left join secondary_candidates
        on
            primary_cells.measure_id = secondary_candidates.measure_id
            and primary_cells.period_end = secondary_candidates.period_end
            and primary_cells.breakdown = secondary_candidates.breakdown
            and primary_cells.breakdown_value = secondary_candidates.breakdown_value
            and primary_cells.part = secondary_candidates.part
            and secondary_candidates.pick = 1
    left join uncoverable_totals
        on
            primary_cells.breakdown = 'all'
            and primary_cells.measure_id = uncoverable_totals.measure_id
            and primary_cells.period_end = uncoverable_totals.period_end
            and primary_cells.part = uncoverable_totals.part
),

row_flags as (
    select
        measure_id,
        period_end,
        breakdown,
        breakdown_value,
        coalesce(bool_or(is_suppressed) filter (where part = 'numerator'), false)
            as numerator_suppressed,
        coalesce(bool_or(is_suppressed) filter (where part = 'denominator'), false)
            as denominator_suppressed,
    from suppressed_cells
    group by measure_id, period_end, breakdown, breakdown_value
),

flagged as (
    select
        measure_rows.*,
        coalesce(row_flags.numerator_suppressed, false) as numerator_suppressed,
        coalesce(row_flags.denominator_suppressed, false) as denominator_suppressed,
        coalesce(row_flags.numerator_suppressed, false)
        or coalesce(row_flags.denominator_suppressed, false) as suppressed,
    from measure_rows
    left join row_flags using (measure_id, breakdown, breakdown_value, period_end)
),

final as (
    select
        measure_id,
        period_end,
        breakdown,
        breakdown_value,
        case
            when numerator is null and unit = 'count' and value is not null
                then case when numerator_suppressed then 'c' else round(value)::bigint::varchar end
            when numerator is null then 'x'
            when numerator_suppressed or (unit = 'days' and denominator_suppressed) then 'c'
            else round(numerator)::bigint::varchar
        end as numerator,
        case
            when unit = 'count' then 'z'
            when denominator is null then 'x'
            when denominator_suppressed then 'c'
            else round(denominator)::bigint::varchar
        end as denominator,
        case
            when suppressed then 'c'
            when value is null and unit <> 'count' and denominator = 0 then 'z'
            when value is null or isnan(value) or isinf(value) then 'x'
            when unit in ('count', 'days') then round(value)::bigint::varchar
            else printf('%.1f', round(value, 1) + 0.0)
        end as value,
        case
            when suppressed or value is null or isnan(value) or isinf(value) then null
            else round(value, decimals) + 0.0
        end as value_num,
        suppressed,
    from flagged
)

select * from final
order by measure_id, breakdown, breakdown_value, period_end
