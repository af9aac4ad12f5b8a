-- pub_measures: one row per measure; the catalogue with the report card's headline flags.
-- Headline measures are raw.oba_config.headline_measures in that order; when the list is empty,
-- every measure with whole-population (breakdown 'all') rows, by measure id.
with catalogue as (
    select * from marts.measures
),

mart_values as (
    select * from marts.measure_values
),

config as (
    select * from raw.oba_config
),

configured as (
    select
        coalesce(
            max(from_json(config.headline_measures, '["VARCHAR"]')), []::varchar []
        ) as ids,
    from config
),

whole_population as (
    select distinct mart_values.measure_id,
    from mart_values
    where mart_values.breakdown = 'all'
),

flagged as (
    select
        catalogue.*,
        case
            when len(configured.ids) > 0
                then list_position(configured.ids, catalogue.measure_id) is not null
            else whole_population.measure_id is not null
        end as is_headline,
        whole_population.measure_id is not null as has_whole_population,
        len(configured.ids) > 0 as headline_configured,
        list_position(configured.ids, catalogue.measure_id) as configured_position,
    from catalogue
    cross join configured
    left join whole_population on catalogue.measure_id = whole_population.measure_id
),

final as (
    select
        measure_id,
        name,
        oba_kind,
        unit,
        direction_of_good,
        description,
        frequency,
        journey,
        sources,
        breakdowns,
        is_headline,
        has_whole_population,
        case
            when is_headline and headline_configured then configured_position
            when is_headline then row_number() over (order by is_headline desc, measure_id)
        end as headline_order,
    from flagged
)

select * from final
order by headline_order nulls last, measure_id
