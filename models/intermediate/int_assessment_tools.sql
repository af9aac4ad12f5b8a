-- One row per assessment tool of the case export (its tool column; Unknown when blank), with
-- whether higher scores are better (the export's higher_is_better) and, from oba.yaml
-- (assessment_tools, raw.assessment_tools; matched ignoring case and surrounding spaces), the
-- standard deviation of its total score and its reliability. The reliable change criterion
-- (Jacobson-Truax) is 1.96 * sd * sqrt(2 * (1 - reliability)), rounded to 6 decimal places so
-- that a change equal to it on paper is equal here too; it is null when sd or reliability is
-- not configured: the tool's clients then count as better off on any improvement, as in
-- program_improved_pct (falls_back).
with assessments as (
    select * from stg_case_assessments
    where coalesce(assessment_id, '') <> '' and assessment_date is not null
),

configured as (
    select * from assessment_tools
),

tools as (
    select
        assessment_tool(tool) as tool,
        bool_and(higher_is_better) as higher_is_better,
    from assessments
    group by all
),

final as (
    select
        tools.tool,
        tools.higher_is_better,
        configured.sd,
        configured.reliability,
        round(1.96 * configured.sd * sqrt(2 * (1 - configured.reliability)), 6) as reliable_change,
        configured.sd is null or configured.reliability is null as falls_back,
    from tools
    left join configured on lower(trim(configured.tool)) = lower(tools.tool)
)

select * from final
