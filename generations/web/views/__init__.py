"""Pages and htmx fragments. Every view needs a login (LoginRequiredMiddleware) unless marked."""
