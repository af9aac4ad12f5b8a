-- pub_comparator_values: one row per measure, 31 March and comparator area (England, region,
-- each statistical neighbour, the neighbours' mean), DfE's published figures rounded to 1
-- decimal place; value_text is the figure or DfE's own symbol (c, x, z, u, k), never a zero.
-- Public figures: no suppression beyond the source's own symbols.
with comparators as (
    select * from marts.comparator_values
),

final as (
    select
        measure_id,
        period_end,
        area_type,
        area_code,
        area_name,
        round(value, 1) as value,
        coalesce(symbol, case when value is null then 'x' end) as symbol,
        coalesce(
            case when value is not null then round(value, 1)::varchar end, symbol, 'x'
        ) as value_text,
        source_file,
    from comparators
)

select * from final
order by measure_id, period_end, area_type, area_code
