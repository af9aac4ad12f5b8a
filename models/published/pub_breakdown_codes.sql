-- pub_breakdown_codes: the plain label of each breakdown code (breakdown_codes: in
-- models/measures.yml), in the catalogue's order; the measure pages show a code with its label.
with codes as (
    select * from marts.breakdown_codes
),

final as (
    select
        breakdown,
        code,
        label,
        position,
    from codes
)

select * from final
order by breakdown, position
