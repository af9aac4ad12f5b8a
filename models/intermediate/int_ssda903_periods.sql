-- One row per month end covered by an SSDA903 return: April to March of each collection year
-- present (a year with no return leaves a gap rather than a false count).
with returns as (
    select distinct collection_year from stg_ssda903_episodes
    where collection_year is not null
),

months as (
    select
        collection_year,
        unnest(generate_series(
            make_date(collection_year - 1, 4, 1), make_date(collection_year, 3, 1), interval 1 month
        )) as month_start,
    from returns
),

final as (
    select distinct
        last_day(month_start)::date as period_end,
        collection_year,
    from months
)

select * from final order by period_end
