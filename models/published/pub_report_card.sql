-- pub_report_card: one row per measure and population (the whole population, or one programme
-- for programme measures): latest value, change on a year earlier, status and SPC signal.
-- Figures come from pub_measure_values (rounded, suppressed); the change is worked out from the
-- unrounded values, then rounded, and is c when either value is suppressed, x when the year-ago
-- value is missing. Status, SPC and assurance are those of the series' latest period. journey
-- is the stage of the child's journey the report card groups the measure under. The verdict's
-- words follow it: the SPC method, the variation icon key, the status note (why there is no
-- status, or why status and SPC disagree) and whether a rebase is suggested, with its note.
with published_values as (
    select * from pub_measure_values
    where breakdown in ('all', 'program')
),

mart_values as (
    select * from marts.measure_values
    where breakdown in ('all', 'program')
),

published_measures as (
    select * from pub_measures
),

published_status as (
    select * from pub_measure_status
    where is_latest
),

series as (
    select
        published_values.measure_id,
        published_values.breakdown,
        published_values.breakdown_value,
        published_values.period_end,
        published_values.value,
        published_values.value_num,
        published_values.suppressed,
        mart_values.value as raw_value,
    from published_values
    inner join mart_values using (measure_id, breakdown, breakdown_value, period_end)
),

latest as (
    select
        measure_id,
        breakdown,
        breakdown_value,
        max(period_end) as latest_period,
    from series
    where raw_value is not null and not isnan(raw_value)
    group by measure_id, breakdown, breakdown_value
),

paired as (
    select
        latest.measure_id,
        latest.breakdown,
        latest.breakdown_value,
        latest.latest_period,
        current_value.value as latest_text,
        current_value.value_num as latest_value,
        current_value.suppressed as latest_suppressed,
        current_value.raw_value as latest_raw,
        year_ago.period_end as year_ago_period,
        year_ago.value as year_ago_text,
        year_ago.value_num as year_ago_value,
        coalesce(year_ago.suppressed, false) as year_ago_suppressed,
        year_ago.raw_value as year_ago_raw,
    from latest
    inner join series as current_value
        on
            latest.measure_id = current_value.measure_id
            and latest.breakdown = current_value.breakdown
            and latest.breakdown_value = current_value.breakdown_value
            and latest.latest_period = current_value.period_end
    left join series as year_ago
        on
            latest.measure_id = year_ago.measure_id
            and latest.breakdown = year_ago.breakdown
            and latest.breakdown_value = year_ago.breakdown_value
            and last_day(latest.latest_period - interval 1 year) = year_ago.period_end
),

changes as (
    select
        paired.*,
        published_measures.name,
        published_measures.oba_kind,
        published_measures.unit,
        published_measures.direction_of_good,
        published_measures.journey,
        published_measures.is_headline,
        published_measures.headline_order,
        case when published_measures.unit in ('count', 'days') then 0 else 1 end as decimals,
        case
            when paired.latest_suppressed or paired.year_ago_suppressed then null
            when paired.year_ago_raw is null or isnan(paired.year_ago_raw) then null
            else
                round(
                    paired.latest_raw - paired.year_ago_raw,
                    case when published_measures.unit in ('count', 'days') then 0 else 1 end
                )
                + 0.0
        end as change_value,
    from paired
    inner join published_measures on paired.measure_id = published_measures.measure_id
),

final as (
    select
        changes.measure_id,
        changes.name,
        changes.oba_kind,
        changes.unit,
        changes.direction_of_good,
        case when changes.breakdown = 'program' then changes.breakdown_value end as program,
        changes.is_headline and changes.breakdown = 'all' as is_headline,
        changes.headline_order,
        changes.latest_period::date as latest_period,
        changes.latest_text,
        changes.latest_value,
        changes.year_ago_period::date as year_ago_period,
        coalesce(changes.year_ago_text, 'x') as year_ago_text,
        changes.change_value,
        case
            when changes.latest_suppressed or changes.year_ago_suppressed then 'c'
            when changes.change_value is null then 'x'
            when changes.decimals = 0 then changes.change_value::bigint::varchar
            else printf('%.1f', changes.change_value)
        end as change_text,
        case
            when changes.change_value is null or changes.change_value = 0 then null
            else (changes.change_value > 0) = (changes.direction_of_good = 'up')
        end as change_is_good,
        published_status.status,
        published_status.spc_signal,
        published_status.assurance,
        published_status.target,
        published_status.baseline_end,
        published_status.baseline_locked,
        published_status.forecast as latest_forecast,
        changes.journey,
        published_status.spc_method,
        published_status.variation,
        published_status.status_note,
        coalesce(published_status.rebase_suggested, false) as rebase_suggested,
        published_status.rebase_note,
    from changes
    left join published_status using (measure_id, breakdown, breakdown_value)
    where changes.breakdown = 'all' or changes.breakdown = 'program'
)

select * from final
order by headline_order nulls last, oba_kind, measure_id, program
