-- pub_assessment_tools: one row per assessment tool of the case export, for the page of
-- program_reliable_improvement_pct: whether higher scores are better, the standard deviation
-- and reliability oba.yaml gives it (assessment_tools), its reliable change criterion
-- 1.96 * sd * sqrt(2 * (1 - reliability)), and falls_back: no SD or reliability configured, so
-- its clients count as better off on any improvement, as in program_improved_pct. Tools only,
-- never a client or a count: the mart's rows as they are.
with tools as (
    select * from marts.reliable_change_tools
)

select * from tools
order by tool
