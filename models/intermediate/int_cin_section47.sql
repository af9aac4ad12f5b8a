-- One row per section 47 enquiry (child + S47ActualStartDate) across every CIN census return:
-- the newest return wins, with its initial child protection conference: whether one was held
-- (a date given and ICPCnotRequired not true) and the working days from the enquiry's start to
-- it (int_calendar: the day after the start to the conference inclusive), within 15 or not.
with enquiries as (
    select * from stg_cin_section47
    where s47_start_date is not null and child_id is not null
),

latest as (
    select * from enquiries
    qualify row_number() over (
        partition by child_id, s47_start_date
        order by collection_year desc nulls last, source_file desc, source_row_number desc
    ) = 1
),

calendar as (
    select * from int_calendar
),

final as (
    select
        latest.child_id,
        latest.referral_date,
        latest.s47_start_date,
        latest.icpc_target_date,
        latest.icpc_date,
        coalesce(latest.icpc_not_required, false) as is_icpc_not_required,
        latest.icpc_date is not null and not coalesce(latest.icpc_not_required, false) as is_icpc_held,
        held.working_day_number - started.working_day_number as working_days_to_icpc,
        held.working_day_number - started.working_day_number <= 15 as is_icpc_within_15_working_days,
        latest.collection_year,
        latest.source_file,
        latest.source_row_number,
    from latest
    left join calendar as started on started.calendar_date = latest.s47_start_date
    left join calendar as held on held.calendar_date = latest.icpc_date
)

select * from final
