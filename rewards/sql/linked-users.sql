-- Which of the users $1 have linked a WeChat account.
select user_id from wechat_links where user_id = any ($1::text[])
