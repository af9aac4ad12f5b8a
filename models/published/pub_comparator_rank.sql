-- pub_comparator_rank: one row per measure and 31 March of DfE's published tables: the
-- authority's rank among all local authorities, out of how many, quartile (1 = best), its value
-- beside England, the region and the neighbours' mean and range, rounded to 1 decimal place.
-- When the authority's value is its own figure (not in DfE's tables) and that figure is
-- suppressed in pub_measure_values, value, rank and quartile are withheld (c).
with ranks as (
    select * from marts.comparator_rank
),

published_values as (
    select * from pub_measure_values
    where breakdown = 'all' and breakdown_value = 'all'
),

final as (
    select
        ranks.measure_id,
        ranks.period_end,
        case when coalesce(published_values.suppressed, false) and ranks.value_source = 'own figures'
            then null else ranks.rank end as rank,
        ranks.out_of,
        case when coalesce(published_values.suppressed, false) and ranks.value_source = 'own figures'
            then null else ranks.quartile end as quartile,
        round(ranks.neighbours_mean, 1) as neighbours_mean,
        round(ranks.england, 1) as england,
        case
            when ranks.value_source = 'own figures' and coalesce(published_values.suppressed, false)
                then null
            else round(ranks.value, 1)
        end as value,
        case
            when ranks.value_source is null then 'x'
            when ranks.value_source = 'own figures' and coalesce(published_values.suppressed, false)
                then 'c'
            else round(ranks.value, 1)::varchar
        end as value_text,
        ranks.value_source,
        round(ranks.region, 1) as region,
        ranks.region_name,
        round(ranks.neighbours_min, 1) as neighbours_min,
        round(ranks.neighbours_max, 1) as neighbours_max,
        ranks.neighbours_counted,
    from ranks
    left join published_values using (measure_id, period_end)
)

select * from final
order by measure_id, period_end
