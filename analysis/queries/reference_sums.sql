-- Per-arm sufficient statistics of lift captured, (served - random) / (oracle - random).
--
-- For each sampled request the simulator scores the served slate, a random slate and the
-- oracle slate. Per user: gain = sum of (served - random), headroom = sum of (oracle - random)
-- over the user's sampled requests. Lift captured is the ratio sum(gain) / sum(headroom), which
-- equals (mean served - mean random) / (mean oracle - mean random) over the requests. Its
-- interval takes the user as the unit, as the assignment does, through the delta method; the
-- sums of squares and the cross-product below are what it needs.
WITH per_user AS (
    SELECT
        arm,
        user_id,
        count(*)::DOUBLE AS n_references,
        sum(served_value)::DOUBLE AS served,
        sum(random_value)::DOUBLE AS random,
        sum(oracle_value)::DOUBLE AS oracle
    FROM "references"
    GROUP BY arm, user_id
)

SELECT
    arm,
    count(*) AS users,
    sum(n_references) AS n_references,
    sum(served) AS served_sum,
    sum(random) AS random_sum,
    sum(oracle) AS oracle_sum,
    sum(served - random) AS gain_sum,
    sum((served - random) * (served - random)) AS gain_sumsq,
    sum(oracle - random) AS headroom_sum,
    sum((oracle - random) * (oracle - random)) AS headroom_sumsq,
    sum((served - random) * (oracle - random)) AS gain_x_headroom
FROM per_user
GROUP BY arm
ORDER BY arm
