"""Who is asking and what they may do: users, API keys, and the request's principal."""
