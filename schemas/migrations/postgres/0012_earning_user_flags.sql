-- The aggregator's flags on the person when an earning was decided (VerifiedEarning.user_flags: the
-- invalid reasons of their earlier traffic, space-separated; '' = none). The payouts' risk check reads
-- them beside ClickHouse's rows, so a payout of a flagged person is held for review even when the
-- money path runs ahead of the analyst tables (a write retried while ClickHouse is down).
alter table earnings add column user_flags text not null default '';
