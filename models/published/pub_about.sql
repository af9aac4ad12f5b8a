-- pub_about: one row; the authority and the suppression threshold the published tables follow.
with config as (
    select * from raw.oba_config
),

final as (
    select
        coalesce(config.authority_name, 'Local authority') as authority_name,
        config.authority_code,
        coalesce(config.suppression_upper, 5) as suppression_upper,
    from config
)

select * from final
