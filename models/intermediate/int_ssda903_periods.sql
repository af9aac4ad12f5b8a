-- One row per month end covered by an SSDA903 return: April to March of each collection year
-- present (a year with no return leaves a gap rather than a false count).
with returns as (
    select list(distinct collection_year) as years from stg_ssda903_episodes
    where collection_year is not null
),

final as (
    select months.* from returns
    cross join returns_month_ends(returns.years) as months
)

select * from final order by period_end
