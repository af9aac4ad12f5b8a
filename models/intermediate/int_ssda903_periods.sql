-- One row per month end covered by an SSDA903 return: April to March of each collection year
-- present (a year with no return leaves a gap rather than a false count).
with returns as (
    select distinct collection_year from stg_ssda903_episodes
    where collection_year is not null
),

final as (
    select distinct
        months.period_end,
        returns.collection_year,
    from returns
    cross join collection_year_month_ends(returns.collection_year) as months
)

select * from final order by period_end
