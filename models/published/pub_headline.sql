-- pub_headline: one row per group of curves on the report card, with its headline counts. The
-- 'population' group is the headline measures' whole-population series (pub_report_card's
-- is_headline: the configured headline measures, else every measure with whole-population
-- rows); each 'programme' group is every series of one programme. Each series counts once, by
-- the status of its latest period (none counts as insufficient_data). headline reads
-- "N of M headline curves turned; K improving; J worsening" ("curves" for a programme).
with report_card as (
    select * from pub_report_card
),

grouped as (
    select
        case when is_headline then 'population' else 'programme' end as group_kind,
        case when is_headline then 'Headline indicators' else program end as group_name,
        coalesce(status, 'insufficient_data') as status,
    from report_card
    where is_headline or program is not null
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
