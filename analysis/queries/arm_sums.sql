-- Per-arm sufficient statistics of the user-level metrics, for the statistics in Python.
--
-- The user is the unit of randomisation, so every metric is first totalled per user and the
-- arm then gets counts, sums, sums of squares and cross-products over its users. Sums are
-- DOUBLE so that squares of large totals do not overflow and Python receives floats.
--
-- Definitions per user (all of the user's events, deduplicated by event_id):
--   impressions, clicks   events of that kind that came from a served slate (request_id set):
--                         organic clicks have no impression, so counting them would inflate CTR
--   add_to_carts, purchases, revenue
--                         every such event, from a slate or organic: what a recommender changes
--                         is the user's whole shopping, not only the clicks on its slates
--   pre_exposure_events   the user's organic events (no request_id) at or before the user's
--                         first exposure (first served slate, or first event carrying an arm):
--                         the CUPED covariate, which no arm can have influenced. The page that
--                         led to the first request is logged at the instant of that request;
--                         the shopper saw it before any slate, hence "at or before".
-- Users are those in user_arm: served at least one slate, or seen with an arm on an event.
WITH first_exposure AS (
    SELECT user_id, min(exposed_at) AS first_exposed_at
    FROM (
        SELECT user_id, served_at AS exposed_at FROM recommendations
        UNION ALL
        SELECT user_id, event_at AS exposed_at FROM events WHERE arm IS NOT NULL
    )
    GROUP BY user_id
),

per_user AS (
    SELECT
        ua.arm,
        ua.user_id,
        count(e.event_id) FILTER (
            WHERE e.event_type = 'impression' AND e.request_id IS NOT NULL)::DOUBLE AS impressions,
        count(e.event_id) FILTER (
            WHERE e.event_type = 'click' AND e.request_id IS NOT NULL)::DOUBLE AS clicks,
        count(e.event_id) FILTER (WHERE e.event_type = 'add_to_cart')::DOUBLE AS add_to_carts,
        count(e.event_id) FILTER (WHERE e.event_type = 'purchase')::DOUBLE AS purchases,
        coalesce(sum(e.revenue), 0)::DOUBLE AS revenue,
        count(e.event_id) FILTER (
            WHERE e.request_id IS NULL AND e.event_at <= f.first_exposed_at
        )::DOUBLE AS pre_exposure_events
    FROM user_arm AS ua
    LEFT JOIN first_exposure AS f ON f.user_id = ua.user_id
    LEFT JOIN events AS e ON e.user_id = ua.user_id
    GROUP BY ua.arm, ua.user_id
),

requests AS (
    SELECT arm, count(*) AS requests FROM recommendations GROUP BY arm
)

SELECT
    p.arm,
    count(*) AS users,
    coalesce(any_value(r.requests), 0) AS requests,
    sum(p.impressions) AS impressions,
    sum(p.clicks) AS clicks,
    sum(p.add_to_carts) AS add_to_carts,
    sum(p.purchases) AS purchases,
    count(*) FILTER (WHERE p.purchases > 0) AS purchasers,
    sum(p.revenue) AS revenue,
    sum(p.impressions * p.impressions) AS impressions_sumsq,
    sum(p.clicks * p.clicks) AS clicks_sumsq,
    sum(p.clicks * p.impressions) AS clicks_x_impressions,
    -- revenue_sum equals revenue; it is repeated under the name of the sums family.
    sum(p.revenue) AS revenue_sum,
    sum(p.revenue * p.revenue) AS revenue_sumsq,
    count(*) FILTER (WHERE p.pre_exposure_events > 0) AS users_with_pre_exposure_events,
    sum(p.pre_exposure_events) AS pre_exposure_events_sum,
    sum(p.pre_exposure_events * p.pre_exposure_events) AS pre_exposure_events_sumsq,
    sum(p.revenue * p.pre_exposure_events) AS revenue_x_pre_exposure_events
FROM per_user AS p
LEFT JOIN requests AS r ON r.arm = p.arm
GROUP BY p.arm
ORDER BY p.arm
