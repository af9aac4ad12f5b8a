-- published.regional_measure_values: marts.regional_measure_values suppressed and rounded following
-- DESIGN.md §5, one row per measure, period end and area (breakdown 'authority', one row per
-- authority, and the region's own row, breakdown 'all'). Every area, authority or region, is
-- published the same way, so adding up the authorities gives back no exact region total.
-- Text columns numerator, denominator and shown hold a number or a code: c suppressed, z not
-- applicable, x not available; value is the number shown (null when it is a code).
--
-- Count cells: a count measure's value; a percentage's or rate's numerator and denominator; a
-- mean number of days's denominator (the children counted: its numerator, the days added up,
-- is not a count of anyone, and is shown rounded to whole days, c when the denominator is).
-- Primary suppression: a count cell from 1 to $upper is c; 0 is a true zero.
-- Rounding: every other count cell is its exact count rounded to the nearest 10 (halves away
-- from zero); the region's from its exact total, never from the rounded authorities.
-- Secondary suppression, for one measure, period and part (numerator or denominator) across
-- the authorities, when the region's total is shown: if one authority's cell is suppressed, or
-- if what the total and the shown cells allow (each rounded cell standing for the counts that
-- round to it) pins a suppressed cell to one value, the smallest shown non-zero authority cell
-- is suppressed too (ties: first authority by name); when there is none, the region's total is.
-- A percentage or rate is worked out from the unrounded counts, to 1 decimal place, and is c
-- when its numerator or denominator is; a mean number of days likewise, to whole days.
with v as (
    select r.*, m.unit from marts.regional_measure_values as r
    inner join marts.measures as m using (measure_id)
),

cells as (
    select
        measure_id, period_end, breakdown, breakdown_value,
        'numerator' as part,
        round(case when unit = 'count' then value else numerator end) as n,
    from v
    where case when unit = 'count' then value else numerator end is not null and unit <> 'days'
    union all
    select measure_id, period_end, breakdown, breakdown_value, 'denominator' as part, round(denominator) as n,
    from v
    where unit <> 'count' and denominator is not null
),

primary_cells as (
    select
        cells.*,
        n between 1 and $upper as is_primary,
        round(n / 10) * 10 as rounded,
        -- the exact counts someone reading the published cell knows it stands for
        case when n = 0 then 0 else greatest(round(n / 10) * 10 - 5, $upper + 1) end as low,
        case when n = 0 then 0 else round(n / 10) * 10 + 4 end as high,
    from cells
),

totals as (
    select measure_id, period_end, part, is_primary as total_suppressed, low as total_low, high as total_high,
    from primary_cells
    where breakdown = 'all'
),

groups as (
    select
        measure_id, period_end, part,
        count(*) filter (where is_primary) as n_primary,
        coalesce(sum(low) filter (where not is_primary), 0) as shown_low,
        coalesce(sum(high) filter (where not is_primary), 0) as shown_high,
    from primary_cells
    where breakdown = 'authority'
    group by all
),

recoverable_groups as (
    -- a suppressed cell lies between the total less the rest at their highest and the total
    -- less the rest at their lowest (other suppressed cells: 1 to $upper), and within 1 to $upper
    select g.measure_id, g.period_end, g.part,
    from groups as g
    inner join totals as t using (measure_id, period_end, part)
    where
        not t.total_suppressed
        and g.n_primary >= 1
        and (
            g.n_primary = 1
            or least($upper, t.total_high - g.shown_low - (g.n_primary - 1))
            <= greatest(1, t.total_low - g.shown_high - (g.n_primary - 1) * $upper)
        )
),

secondary_candidates as (
    select
        p.measure_id, p.period_end, p.breakdown, p.breakdown_value, p.part,
        row_number() over (
            partition by p.measure_id, p.period_end, p.part order by p.rounded, p.breakdown_value
        ) as pick,
    from primary_cells as p
    inner join recoverable_groups using (measure_id, period_end, part)
    where p.breakdown = 'authority' and not p.is_primary and p.n > 0
),

uncoverable_totals as (
    -- recoverable groups with no shown non-zero authority cell left to hide: hide their total
    select r.measure_id, r.period_end, r.part,
    from recoverable_groups as r
    anti join secondary_candidates as s using (measure_id, period_end, part)
),

suppressed_cells as (
    select
        p.measure_id, p.period_end, p.breakdown, p.breakdown_value, p.part, p.rounded,
        p.is_primary or s.pick is not null or u.part is not null as is_suppressed,
    from primary_cells as p
    left join secondary_candidates as s
        on
            p.measure_id = s.measure_id and p.period_end = s.period_end and p.part = s.part
            and p.breakdown = s.breakdown and p.breakdown_value = s.breakdown_value and s.pick = 1
    left join uncoverable_totals as u
        on p.breakdown = 'all' and p.measure_id = u.measure_id and p.period_end = u.period_end and p.part = u.part
),

row_cells as (
    select
        measure_id, period_end, breakdown, breakdown_value,
        coalesce(bool_or(is_suppressed) filter (where part = 'numerator'), false) as numerator_suppressed,
        coalesce(bool_or(is_suppressed) filter (where part = 'denominator'), false) as denominator_suppressed,
        any_value(rounded) filter (where part = 'numerator') as numerator_rounded,
        any_value(rounded) filter (where part = 'denominator') as denominator_rounded,
    from suppressed_cells
    group by all
),

flagged as (
    select
        v.*,
        coalesce(c.numerator_suppressed, false) as numerator_suppressed,
        coalesce(c.denominator_suppressed, false) as denominator_suppressed,
        c.numerator_rounded,
        c.denominator_rounded,
    from v
    left join row_cells as c using (measure_id, period_end, breakdown, breakdown_value)
),

shown as (
    select
        *,
        case
            when numerator_suppressed or denominator_suppressed then null
            when value is null or isnan(value) or isinf(value) then null
            when unit = 'count' then numerator_rounded
            when unit = 'days' then round(value)
            else round(value, 1)
        end as published_value,
    from flagged
)

select
    measure_id,
    period_end,
    breakdown,
    breakdown_value,
    case
        when unit = 'days' and denominator_suppressed then 'c'
        when unit = 'days' and numerator is not null then round(numerator)::bigint::varchar
        when numerator_rounded is null then 'x'
        when numerator_suppressed then 'c'
        else numerator_rounded::bigint::varchar
    end as numerator,
    case
        when unit = 'count' then 'z'
        when denominator_rounded is null then 'x'
        when denominator_suppressed then 'c'
        else denominator_rounded::bigint::varchar
    end as denominator,
    published_value + 0.0 as value,
    case
        when numerator_suppressed or denominator_suppressed then 'c'
        when unit <> 'count' and denominator = 0 then 'z'
        when published_value is null then 'x'
        when unit in ('count', 'days') then format('{:,}', published_value::bigint)
        else format('{:.1f}', published_value)
    end as shown,
from shown
order by measure_id, breakdown, breakdown_value, period_end
