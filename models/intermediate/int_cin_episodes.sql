-- One row per episode of need (CINdetails; child + CINreferralDate) across every CIN census
-- return: the newest return wins for an episode it repeats. A referral is a re-referral when the
-- same child has another referral dated earlier and no more than a year before it (its date -
-- 1 year or later, DOMAIN.md §3b). ReferralNFA true marks a referral with no further action.
with details as (
    select * from stg_cin_details
    where referral_date is not null and child_id is not null
),

latest as (
    select * from details
    qualify row_number() over (
        partition by child_id, referral_date
        order by collection_year desc nulls last, source_file desc, source_row_number desc
    ) = 1
),

sequenced as (
    select
        latest.*,
        lag(referral_date) over (partition by child_id order by referral_date) as previous_referral_date,
    from latest
),

final as (
    select
        child_id,
        referral_date,
        closure_date,
        referral_source,
        primary_need_code,
        reason_for_closure,
        coalesce(referral_nfa, false) as is_nfa,
        coalesce(previous_referral_date >= referral_date - interval 1 year, false) as is_rereferral,
        collection_year,
        source_file,
        source_row_number,
    from sequenced
)

select * from final
