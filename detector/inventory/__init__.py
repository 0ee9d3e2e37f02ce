"""Directory inventory of each tenant (users, groups, roles, apps, grants, tokens, factors, IdPs, policies),
synced under the tenant's shared rate budget, and the posture checks over it."""
