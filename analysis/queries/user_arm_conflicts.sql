-- Users seen in more than one arm. Assignment is a deterministic hash of the user id, so any
-- row here means a bug in assignment or logging; such users count in each of their arms.
SELECT user_id, list(arm ORDER BY arm) AS arms
FROM user_arm
GROUP BY user_id
HAVING count(*) > 1
ORDER BY user_id
