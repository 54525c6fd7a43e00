-- Which of the earning ids $1 are already recorded (posted or refused).
select earning_id from earnings where earning_id = any ($1::uuid[])
