-- The person $1's (<app_id>:<user_id>) balances in currency $2, by account type.
select type, debits, credits from accounts where owner = $1 and currency = $2
  and type in ('user_available', 'user_held', 'payout_clearing')
