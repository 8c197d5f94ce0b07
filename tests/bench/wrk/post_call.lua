-- wrk script: a ChatGPT sync call with the team token in $TOKEN (a malformed one if unset).
-- wrk counts the answers that are not 2xx/3xx ("Non-2xx or 3xx responses").
wrk.method = "POST"
wrk.body = '{"prompt": "What do you know about Acme Corp?", "country": "US"}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. (os.getenv("TOKEN") or "not-a-token")
