-- Which of the persons $1 (<app_id>:<user_id>) have linked a WeChat account.
select user_id from wechat_links where user_id = any ($1::text[])
