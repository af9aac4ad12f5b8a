-- One row per episode of care (child + DECOM) across every SSDA903 return.
-- The newest return wins for an episode it repeats. An episode left open in an older return
-- and absent from every later one is closed at the child's next episode (REC X1) or, if none,
-- on 1 April after that return's 31 March (REC E99); such rows are flagged (DOMAIN.md §2).
with episodes as (
    select * from stg_ssda903_episodes
    where decom is not null and child_id is not null
),

returns as (
    select max(collection_year) as latest_return from episodes
),

ranked as (
    select
        episodes.*,
        row_number() over (
            partition by child_id, decom
            order by collection_year desc nulls last, source_file desc, source_row_number desc
        ) as return_rank,
    from episodes
),

latest as (
    select * exclude (return_rank) from ranked where return_rank = 1
),

sequenced as (
    select
        latest.*,
        lead(decom) over (partition by child_id order by decom) as next_decom,
    from latest
),

final as (
    select
        sequenced.child_id,
        sequenced.decom,
        case when needs_repair then coalesce(next_decom, make_date(collection_year, 4, 1)) else dec end
            as dec,
        sequenced.rne,
        sequenced.ls,
        sequenced.cin,
        sequenced.place,
        sequenced.place_provider,
        case when needs_repair then (case when next_decom is not null then 'X1' else 'E99' end) else rec end
            as rec,
        sequenced.reason_place_change,
        sequenced.home_postcode_district,
        coalesce(sequenced.ls in ('V3', 'V4'), false) as is_short_break,
        needs_repair as is_repaired,
        case
            when needs_repair then 'open episode absent from later returns: closed by repair rule'
        end as repair_note,
        sequenced.collection_year,
        sequenced.source_file,
        sequenced.source_row_number,
    from (
        select
            s.*,
            (s.dec is null and s.collection_year < r.latest_return) as needs_repair,
        from sequenced as s
        cross join returns as r
    ) as sequenced
)

select * from final
