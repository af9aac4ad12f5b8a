-- One row per child protection plan (child + CPPstartDate) across every CIN census return: the
-- newest return wins for a plan it repeats. A plan is a repeat when the same child has a plan
-- with an earlier CPPstartDate in the data or NumberOfPreviousCPP > 0.
with plans as (
    select * from stg_cp_plans
    where cpp_start_date is not null and child_id is not null
),

latest as (
    select * from plans
    qualify row_number() over (
        partition by child_id, cpp_start_date
        order by collection_year desc nulls last, source_file desc, source_row_number desc
    ) = 1
),

sequenced as (
    select
        latest.*,
        row_number() over (partition by child_id order by cpp_start_date) as plan_number,
    from latest
),

final as (
    select
        child_id,
        cin_referral_date,
        cpp_start_date,
        cpp_end_date,
        initial_category_of_abuse,
        latest_category_of_abuse,
        number_of_previous_cpp,
        primary_need_code,
        plan_number,
        plan_number > 1 as has_earlier_plan,
        plan_number > 1 or coalesce(number_of_previous_cpp, 0) > 0 as is_repeat,
        collection_year,
        source_file,
        source_row_number,
    from sequenced
)

select * from final
