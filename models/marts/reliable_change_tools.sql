-- reliable_change_tools: one row per assessment tool of the case export, with whether higher scores
-- are better, the standard deviation and reliability oba.yaml gives it, its reliable change
-- criterion (Jacobson-Truax) and falls_back (no SD or reliability configured: its clients count
-- as better off on any improvement, as in program_improved_pct). See int_assessment_tools.
with tools as (
    select * from int_assessment_tools
),

final as (
    select
        tool,
        higher_is_better,
        sd,
        reliability,
        reliable_change,
        falls_back,
    from tools
)

select * from final
order by tool
