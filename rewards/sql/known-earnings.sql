-- Which of the source events $1 already have their earning recorded (posted or refused).
select source_event_id from earnings where source_event_id = any ($1::uuid[])
