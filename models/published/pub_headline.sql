-- pub_headline: one row per group of curves, the report card's headline counts. The
-- 'population' group is the headline measures' whole-population series (pub_measures.is_headline:
-- the configured headline measures, else every measure with whole-population rows); each
-- 'programme' group is every series of one programme. Each series counts once, by the status of
-- its latest period (a series without one counts as insufficient_data). headline reads
-- "N of M headline curves turned; K improving; J worsening" ("curves" for a programme).
with published_status as (
    select * from pub_measure_status
),

published_measures as (
    select * from pub_measures
),

series as (
    select distinct
        measure_id,
        breakdown,
        breakdown_value,
    from published_status
),

latest as (
    select
        measure_id,
        breakdown,
        breakdown_value,
        status,
    from published_status
    where is_latest
),

grouped as (
    select
        case when series.breakdown = 'all' then 'population' else 'programme' end as group_kind,
        case
            when series.breakdown = 'all' then 'Headline indicators'
            else series.breakdown_value
        end as group_name,
        coalesce(latest.status, 'insufficient_data') as status,
    from series
    inner join published_measures on series.measure_id = published_measures.measure_id
    left join latest
        on
            series.measure_id = latest.measure_id
            and series.breakdown = latest.breakdown
            and series.breakdown_value = latest.breakdown_value
    where
        (series.breakdown = 'all' and published_measures.is_headline)
        or series.breakdown = 'program'
),

counted as (
    select
        group_kind,
        group_name,
        count(*) as curves,
        count(*) filter (where status = 'turned') as turned,
        count(*) filter (where status = 'improving') as improving,
        count(*) filter (where status = 'worsening') as worsening,
        count(*) filter (where status = 'no_change') as no_change,
        count(*) filter (where status = 'insufficient_data') as insufficient_data,
    from grouped
    group by group_kind, group_name
),

final as (
    select
        group_kind,
        group_name,
        curves,
        turned,
        improving,
        worsening,
        no_change,
        insufficient_data,
        format(
            '{} of {} {}curves turned; {} improving; {} worsening',
            turned,
            curves,
            case when group_kind = 'population' then 'headline ' else '' end,
            improving,
            worsening
        ) as headline,
    from counted
)

select * from final
order by group_kind = 'programme', group_name
