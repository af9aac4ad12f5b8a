-- One row per month end covered by a CIN census return: April to March of each collection year
-- present (a year with no return leaves a gap rather than a false count).
with children as (
    select collection_year from stg_cin_children
),

plans as (
    select collection_year from stg_cp_plans
),

returns as (
    select list(distinct collection_year) as years
    from (select * from children union all select * from plans) as years
    where collection_year is not null
),

final as (
    select months.* from returns
    cross join returns_month_ends(returns.years) as months
)

select * from final order by period_end
