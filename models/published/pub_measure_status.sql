-- pub_measure_status: one row per measure series and period, including the forecast periods;
-- the turn-the-curve chart's data. A series is the whole population (breakdown 'all') or, for a
-- programme measure, one programme (breakdown 'program'). Actual values come from
-- pub_measure_values, so they are suppressed exactly as there. Forecast, interval and SPC
-- lines are rounded like the measure (counts and days to whole numbers, percentages and rates
-- to 1 decimal place; SPC lines one place more) and are withheld (null, forecast_withheld) for a
-- series with any suppressed value, since a model fitted on small counts would show them.
-- Status, SPC signal, assurance, the SPC method (xmr or p_chart), the variation icon key, the
-- status note (why there is no status, or why status and SPC disagree) and the rebase
-- suggestion are words and stay. p-chart limits differ from point to point; they are rounded
-- and withheld like the XmR lines.
with mart_status as (
    -- breakdown columns may be absent (whole-population series only): then they are 'all'
    select * from marts.measure_status
    union all by name
    select
        null::varchar as breakdown,
        null::varchar as breakdown_value,
    where false
),

catalogue as (
    select * from marts.measures
),

published_values as (
    select * from pub_measure_values
    where breakdown in ('all', 'program')
),

series_rows as (
    select
        mart_status.* exclude (breakdown, breakdown_value),
        coalesce(mart_status.breakdown, 'all') as breakdown,
        coalesce(mart_status.breakdown_value, 'all') as breakdown_value,
    from mart_status
),

latest as (
    select
        measure_id,
        breakdown,
        breakdown_value,
        max(period_end) as latest_period,
    from series_rows
    where value is not null and not isnan(value)
    group by measure_id, breakdown, breakdown_value
),

withheld as (
    select
        measure_id,
        breakdown,
        breakdown_value,
        bool_or(suppressed) as any_suppressed,
    from published_values
    group by measure_id, breakdown, breakdown_value
),

joined as (
    select
        series_rows.*,
        case when catalogue.unit in ('count', 'days') then 0 else 1 end as decimals,
        published_values.value as published_text,
        published_values.value_num as published_value,
        latest.latest_period,
        coalesce(withheld.any_suppressed, false) as forecast_withheld,
    from series_rows
    inner join catalogue using (measure_id)
    left join published_values using (measure_id, breakdown, breakdown_value, period_end)
    left join latest using (measure_id, breakdown, breakdown_value)
    left join withheld using (measure_id, breakdown, breakdown_value)
),

final as (
    select
        measure_id,
        breakdown,
        breakdown_value,
        period_end::date as period_end,
        published_value as value,
        case
            when value is null or isnan(value) then null
            else coalesce(published_text, 'x')
        end as value_text,
        case when not forecast_withheld then round(forecast, decimals) + 0.0 end as forecast,
        case
            when not forecast_withheld then round(forecast_lower, decimals) + 0.0
        end as forecast_lower,
        case
            when not forecast_withheld then round(forecast_upper, decimals) + 0.0
        end as forecast_upper,
        baseline_end::date as baseline_end,
        status,
        spc_signal,
        case when not forecast_withheld then round(spc_mean, decimals + 1) + 0.0 end as spc_mean,
        case
            when not forecast_withheld then round(spc_lower, decimals + 1) + 0.0
        end as spc_lower,
        case
            when not forecast_withheld then round(spc_upper, decimals + 1) + 0.0
        end as spc_upper,
        round(target, 1) + 0.0 as target,
        assurance,
        spc_method,
        variation,
        status_note,
        coalesce(rebase_suggested, false) as rebase_suggested,
        rebase_note,
        coalesce(baseline_source = 'locked', false) as baseline_locked,
        forecast_withheld,
        coalesce(period_end = latest_period, false) as is_latest,
        latest_period is null or period_end > latest_period as is_future,
    from joined
)

select * from final
order by measure_id, breakdown, breakdown_value, period_end
