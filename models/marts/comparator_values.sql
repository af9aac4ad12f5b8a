-- comparator_values: one row per measure, 31 March and comparator area: England, the region,
-- each statistical neighbour and the neighbours' mean, from DfE's published tables (EES CSVs,
-- raw.ees_values). value is null where DfE publishes a symbol (c, x, z, u, k), kept in symbol;
-- a symbol is never a zero. The region is oba.yaml's comparators.region, else the region of
-- the authority's own row in the tables. The neighbours' mean is the plain mean of the
-- neighbours with a figure (x when none has one).
with published as (
    select * from raw.ees_values
),

areas as (
    select * from raw.comparator_areas
),

authority_region as (
    select published.region_code as area_code,
    from published
    inner join areas on areas.role = 'authority' and areas.area_code = published.area_code
    where published.area_type = 'la' and published.region_code is not null and published.region_code <> ''
    group by published.region_code
    order by count(*) desc
    limit 1
),

region_code as (
    select coalesce(
        (select max(area_code) from areas where role = 'region'),
        (select max(area_code) from authority_region)
    ) as area_code,
),

england as (
    select
        measure_id, period_end, 'england' as area_type, area_code, area_name, value, symbol,
        source_file,
    from published
    where area_type = 'england'
),

region as (
    select
        measure_id, period_end, 'region' as area_type, published.area_code, area_name, value,
        symbol, source_file,
    from published
    inner join region_code on region_code.area_code = published.area_code
    where published.area_type = 'region'
),

neighbour as (
    select
        measure_id, period_end, 'neighbour' as area_type, published.area_code, area_name, value,
        symbol, source_file,
    from published
    inner join areas on areas.role = 'neighbour' and areas.area_code = published.area_code
    where published.area_type = 'la'
),

neighbours_mean as (
    select
        measure_id,
        period_end,
        'neighbours_mean' as area_type,
        'neighbours' as area_code,
        'Statistical neighbours (mean of ' || count(value)::varchar || ')' as area_name,
        -- a compensated sum: the same last digit whatever order a parallel join gives the rows in
        fsum(value) / count(value) as value,
        case when count(value) = 0 then 'x' end as symbol,
        string_agg(distinct source_file, ', ' order by source_file) as source_file,
    from neighbour
    group by measure_id, period_end
),

final as (
    select * from england
    union all by name
    select * from region
    union all by name
    select * from neighbour
    union all by name
    select * from neighbours_mean
)

select
    measure_id, period_end::date as period_end, area_type, area_code, area_name,
    value::double as value, symbol, source_file,
from final
order by measure_id, period_end, area_type, area_code
