-- One row per programme, client and assessment occasion (distinct assessment_id on enrolments
-- of the programme), in date order: the occasion's total score (sum over domains), the first
-- occasion's, the next occasion's date, and whether the total is better than the first one's
-- (higher if higher_is_better, else lower; a tie is not better). An occasion is the client's
-- latest in the programme from its own date until the next occasion's date.
--
-- is_reliably_improved: the change from the first total to this one, in the good direction,
-- exceeds the reliable change criterion of the occasion's tool (int_assessment_tools; equal to
-- it is not enough); a tool without one falls back to is_improved.
with assessments as (
    select * from stg_case_assessments
    where coalesce(assessment_id, '') <> '' and assessment_date is not null
),

enrolments as (
    select * from int_program_enrolments
),

tools as (
    select * from int_assessment_tools
),

occasions as (
    select
        enrolments.program,
        enrolments.client_id,
        assessments.assessment_id,
        min(assessments.assessment_date) as assessment_date,
        sum(assessments.score) as total_score,
        bool_and(assessments.higher_is_better) as higher_is_better,
        min(assessment_tool(assessments.tool)) as tool,
    from assessments
    inner join enrolments on enrolments.enrolment_id = assessments.enrolment_id
    group by enrolments.program, enrolments.client_id, assessments.assessment_id
),

sequenced as (
    select
        occasions.*,
        row_number() over client_occasions as occasion_number,
        first_value(total_score) over client_occasions as first_total_score,
        lead(assessment_date) over client_occasions as next_assessment_date,
    from occasions
    window client_occasions as (
        partition by program, client_id order by assessment_date, assessment_id
    )
),

improvement as (
    select
        sequenced.*,
        tools.reliable_change,
        coalesce(
            case
                when sequenced.higher_is_better
                    then sequenced.total_score > sequenced.first_total_score
                else sequenced.total_score < sequenced.first_total_score
            end,
            false
        ) as is_improved,
        case
            when sequenced.higher_is_better
                then sequenced.total_score - sequenced.first_total_score
            else sequenced.first_total_score - sequenced.total_score
        end as gain,
    from sequenced
    left join tools on sequenced.tool = tools.tool
),

final as (
    select
        program,
        client_id,
        assessment_id,
        assessment_date,
        occasion_number,
        total_score,
        first_total_score,
        higher_is_better,
        next_assessment_date,
        tool,
        is_improved,
        case
            when reliable_change is null then is_improved
            else coalesce(gain > reliable_change, false)
        end as is_reliably_improved,
    from improvement
)

select * from final
