-- Removes web origin $2 of app $1; returns it when it was registered.
delete from app_origins where app_id = $1 and origin = $2 returning origin
