-- comparator_rank: one row per measure and 31 March that DfE's published tables (EES CSVs)
-- give: the authority's rank among all local authorities with a figure (1 = best by the
-- measure's direction_of_good; ties share the better rank), out_of, quartile (1 = best:
-- floor(4 * (rank - 1) / out_of) + 1), the neighbours' mean (and range), the region and
-- England. The authority's value is its own row in the tables (value_source 'published'), else
-- its own figure for that 31 March (marts.measure_values, whole population: 'own figures');
-- symbols are never ranked.
with published as (
    select * from raw.ees_values
),

areas as (
    select * from raw.comparator_areas
),

catalogue as (
    select * from marts.measures
),

own_values as (
    select * from marts.measure_values
    where breakdown = 'all' and breakdown_value = 'all'
),

comparators as (
    select * from marts.comparator_values
),

authority as (
    select max(area_code) as area_code from areas where role = 'authority'
),

periods as (
    select distinct measure_id, period_end from published
),

authority_published as (
    select published.measure_id, published.period_end, published.value,
    from published
    inner join authority on authority.area_code = published.area_code
    where published.area_type = 'la' and published.value is not null
),

authority_value as (
    select
        periods.measure_id,
        periods.period_end,
        coalesce(authority_published.value, own_values.value) as value,
        case
            when authority_published.value is not null then 'published'
            when own_values.value is not null and not isnan(own_values.value) then 'own figures'
        end as value_source,
    from periods
    left join authority_published using (measure_id, period_end)
    left join own_values using (measure_id, period_end)
),

other_las as (
    select published.measure_id, published.period_end, published.value,
    from published
    where published.area_type = 'la' and published.value is not null
        and published.area_code is distinct from (select area_code from authority)
),

counted as (
    select
        authority_value.measure_id,
        authority_value.period_end,
        count(other_las.value) filter (
            where (catalogue.direction_of_good = 'down' and other_las.value < authority_value.value)
                or (catalogue.direction_of_good = 'up' and other_las.value > authority_value.value)
        ) as better,
        count(other_las.value) as others,
    from authority_value
    inner join catalogue using (measure_id)
    left join other_las using (measure_id, period_end)
    group by authority_value.measure_id, authority_value.period_end
),

ranked as (
    select
        authority_value.measure_id,
        authority_value.period_end,
        authority_value.value,
        authority_value.value_source,
        case when authority_value.value_source is not null then counted.better + 1 end as rank,
        case when authority_value.value_source is not null then counted.others + 1 end as out_of,
    from authority_value
    inner join counted using (measure_id, period_end)
),

pivoted as (
    select
        measure_id,
        period_end,
        max(value) filter (where area_type = 'england') as england,
        max(symbol) filter (where area_type = 'england') as england_symbol,
        max(value) filter (where area_type = 'region') as region,
        max(area_name) filter (where area_type = 'region') as region_name,
        max(value) filter (where area_type = 'neighbours_mean') as neighbours_mean,
        min(value) filter (where area_type = 'neighbour') as neighbours_min,
        max(value) filter (where area_type = 'neighbour') as neighbours_max,
        count(value) filter (where area_type = 'neighbour') as neighbours_counted,
    from comparators
    group by measure_id, period_end
),

final as (
    select
        ranked.measure_id,
        ranked.period_end,
        ranked.rank,
        ranked.out_of,
        case when ranked.rank is not null then floor(4 * (ranked.rank - 1) / ranked.out_of)::integer + 1 end
            as quartile,
        pivoted.neighbours_mean,
        pivoted.england,
        ranked.value,
        ranked.value_source,
        pivoted.england_symbol,
        pivoted.region,
        pivoted.region_name,
        pivoted.neighbours_min,
        pivoted.neighbours_max,
        coalesce(pivoted.neighbours_counted, 0) as neighbours_counted,
    from ranked
    left join pivoted using (measure_id, period_end)
)

select * from final
order by measure_id, period_end
