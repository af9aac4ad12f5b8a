-- published.pub_contract_results: one row per contract check of the run.
-- Messages can quote a failing value ("DOB '14/03/2008' is not a date", "...; e.g. 14/03/2008"):
-- the published summary keeps the message without quoted values or examples.
select
    source,
    check_name,
    success,
    coalesce(unexpected_count, 0)::bigint as unexpected_count,
    severity,
    left(
        regexp_replace(
            regexp_replace(coalesce(message, ''), '[;,]?\s*e\.g\..*$', ''),
            '''[^'']*''|"[^"]*"', '…', 'g'
        ),
        300
    ) as message,
from quality.contract_results
order by success, severity, source, check_name
