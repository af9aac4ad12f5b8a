-- One row per care leaver per collection year Y (period end 31 March Y): OC3 rows of the return
-- for year Y whose birthday in that year (1 April Y-1 to 31 March Y) is their 17th to 21st
-- (age_group 17-18 or 19-21), excluding IN_TOUCH DIED and RHOM. Flags: suitable accommodation (ACCOM ends in 1) and
-- in education, employment or training (ACTIV F1 P1 F2 P2 F4 P4 F5 P5, and F3 P3 before 2022).
-- "No information" (0) stays in the cohort with both flags false.
with oc3 as (
    select * from stg_ssda903_oc3
    where child_id is not null and collection_year is not null
),

children as (
    select * from int_child_attributes
    where source = 'ssda903'
),

one_row_per_child as (
    select * from oc3
    qualify row_number() over (
        partition by collection_year, child_id
        order by source_file desc, source_row_number desc
    ) = 1
),

with_child as (
    select
        one_row_per_child.*,
        coalesce(one_row_per_child.date_of_birth, children.date_of_birth) as birth_date,
        coalesce(children.sex, 'Unknown') as sex,
        coalesce(children.ethnicity, 'Unknown') as ethnicity,
    from one_row_per_child
    left join children on children.child_id = one_row_per_child.child_id
),

with_age as (
    select
        with_child.*,
        -- The birthday falls in calendar year Y-1 for April-December births, else in Y.
        collection_year
        - (case when month(birth_date) >= 4 then 1 else 0 end)
        - year(birth_date) as age_turned,
    from with_child
),

final as (
    select
        make_date(collection_year, 3, 31) as period_end,
        collection_year,
        child_id,
        birth_date as date_of_birth,
        age_turned,
        case when age_turned <= 18 then '17-18' else '19-21' end as age_group,
        in_touch,
        activ,
        accom,
        coalesce(right(accom, 1) = '1', false) as is_suitable_accommodation,
        coalesce(
            activ in ('F1', 'P1', 'F2', 'P2', 'F4', 'P4', 'F5', 'P5')
            or (collection_year < 2022 and activ in ('F3', 'P3')),
            false
        ) as is_eet,
        sex,
        ethnicity,
    from with_age
    where age_turned between 17 and 21
        and coalesce(in_touch, '') not in ('DIED', 'RHOM')
)

select * from final
