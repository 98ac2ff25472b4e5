"""The web layer: views (views/), forms, fragments (cards), template helpers (jinja, templatetags, paths).

Views read through generations.queries and write through generations.actions; they never
reach the HTTP client or the lifecycle themselves.
"""
