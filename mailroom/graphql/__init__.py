"""The GraphQL API (Strawberry on Starlette), thin over the service layer (`workspace`).

schema      the domains' queries and mutations merged, with the request checks
endpoint    /graphql over HTTP: token, rate limit, request size, time budget
graphiql    the GraphiQL page and the files it loads, shipped in static/
context     who asks, the settings and the request's DataLoaders
loaders     DataLoaders that batch a page's lookups
measure     a request measured before it is validated (fields, depth, aliases, cost)
inputs      text a client sends, checked once (no NUL)
relay       keyset connections: first, after, pageInfo
permissions who may read the fields that are not for every member
errors      expected failures as result types
emails/ people/ workspace/ mailboxes/   types, queries and mutations by domain
"""
