-- pub_stories: one row per measure with a story; the review meeting's own words (story behind
-- the baseline, partners, what works, action plan, data development), as JSON text. People's
-- text, not case data: the site escapes it on display.
with story_rows as (
    select * from raw.stories
),

final as (
    select
        measure_id,
        baseline_end,
        target,
        story,
        partners,
        what_works,
        actions,
        data_development,
    from story_rows
)

select * from final
order by measure_id
