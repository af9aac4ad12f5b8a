-- The headline flags of the published measures.
select measure_id, is_headline, headline_order from published.pub_measures
