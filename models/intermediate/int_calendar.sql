-- One row per day of the years raw.bank_holidays covers: whether it is a working day (Monday to
-- Friday and not an England and Wales bank holiday) and its working-day number, the working
-- days from the calendar's first day up to and including it. The working days after a day S up
-- to and including a day E (DOMAIN.md §3b) are E's number minus S's.
with holidays as (
    select * from bank_holidays
),

bounds as (
    select
        make_date(min(year(holiday_date)), 1, 1) as first_day,
        make_date(max(year(holiday_date)), 12, 31) as last_day,
    from holidays
),

days as (
    select unnest(generate_series(bounds.first_day, bounds.last_day, interval 1 day))::date as calendar_date
    from bounds
),

flagged as (
    select
        days.calendar_date,
        isodow(days.calendar_date) <= 5 and holidays.holiday_date is null as is_working_day,
    from days
    left join (select distinct holiday_date from holidays) as holidays
        on holidays.holiday_date = days.calendar_date
),

final as (
    select
        calendar_date,
        is_working_day,
        sum(case when is_working_day then 1 else 0 end) over (order by calendar_date) as working_day_number,
    from flagged
)

select * from final
